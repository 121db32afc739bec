/**
 * `blitz serve`: the HTTP service (ingest, health, metrics, one-click actions) with its worker pool.
 * Prints one line `Blitz listening on http://host:port` on stdout once it accepts connections; logs
 * are JSON lines on stderr. SIGTERM/SIGINT stop it gracefully (a second signal exits at once).
 *
 * @module
 */
import { type CliArgs, type Command, CONFIG_OPTION } from "./command.ts";
import { createHandlers } from "../routes/app.ts";
import { ConfigError, errorMessage, InputError } from "../core/errors.ts";
import { jsonLogger } from "../core/log.ts";
import { Metrics } from "../core/service/metrics.ts";
import type { Runtime } from "../core/pipeline/pipeline.ts";
import { Queue } from "../core/service/queue.ts";
import { closeRuntime, createRuntime } from "../core/service/runtime.ts";
import { reloadConfig } from "../core/service/reload.ts";
import { accessHint } from "../core/permissions.ts";
import { RetentionJob } from "../core/service/retention.ts";
import { StormJob } from "../core/service/storm_job.ts";
import { ChannelQueue } from "../core/service/channel_queue.ts";
import { join } from "../core/paths.ts";
import {
  type GuardedServer,
  serveGuarded,
} from "../core/service/http_listener.ts";
import {
  serveThreads,
  threadDetectors,
  type ThreadedServer,
} from "../routes/http_threads.ts";

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[\w.-]+):(\d{1,5})$/;

/** Splits `host:port` (`[v6]:port` allowed) into Deno.serve's hostname and port. */
export function parseListen(
  value: string,
  source: string,
): { hostname: string; port: number } {
  const match = HOST_PORT.exec(value.trim());
  const port = Number(match?.[2]);
  if (!match || port > 65535) {
    throw new InputError(
      `Invalid ${source} "${value}": expected host:port, e.g. 127.0.0.1:8080`,
    );
  }
  return { hostname: match[1]!.replace(/^\[(.*)\]$/, "$1"), port };
}

/** Start-up checks that would otherwise fail per alert: tokens, and the permissions delivery and the store need. */
export function preflight(runtime: Runtime): string[] {
  const { file, global } = runtime.config;
  const problems: string[] = [];
  if (global.ingest_tokens.length === 0) {
    problems.push(
      `${file}: ingest_tokens: serve needs at least one ingest token, e.g. ingest_tokens: ["\${env:BLITZ_INGEST_TOKEN}"]`,
    );
  }
  if (
    Deno.permissions.querySync({ name: "write", path: global.data_dir })
      .state !== "granted"
  ) {
    problems.push(`${file}: data_dir: ${accessHint("write", global.data_dir)}`);
  }
  if (global.smtp !== undefined) {
    const url = new URL(global.smtp);
    const host = `${url.hostname}:${
      url.port || (url.protocol === "smtps:" ? 465 : 587)
    }`;
    if (Deno.permissions.querySync({ name: "net", host }).state !== "granted") {
      problems.push(
        `${file}: smtp: no network permission for "${host}": add it to --allow-net`,
      );
    }
  }
  return problems;
}

/** Holds `<data_dir>/serve.lock` so two services never share one store (start-up requeues its work). */
async function lockDataDir(dataDir: string): Promise<Deno.FsFile> {
  await Deno.mkdir(dataDir, { recursive: true });
  const path = join(dataDir, "serve.lock");
  const file = await Deno.open(path, { read: true, write: true, create: true });
  if (!(await file.tryLock(true))) {
    file.close();
    throw new InputError(
      `Another "blitz serve" is running on ${dataDir} (${path} is locked)`,
    );
  }
  await file.truncate();
  await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
  return file;
}

/** Waits for `promise`, or `ms` at most (the promise keeps running). */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      promise,
      new Promise<void>((resolve) => (timer = setTimeout(() => resolve(), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const command: Command = {
  options: { ...CONFIG_OPTION },
  positionals: [],
  usage: `Usage: blitz serve [--config <path>]

Runs the HTTP service: POST /ingest/<detector> (Bearer token from ingest_tokens), GET /healthz,
GET /metrics, and the one-click action pages, with a pool of "workers" processing the durable queue.

Listens on the config's "listen" (host:port, default 127.0.0.1:8080); BLITZ_LISTEN overrides it.
stdout: one line "Blitz listening on http://host:port" once ready
stderr: one JSON log line per event
SIGTERM/SIGINT: stop accepting, let alerts in progress finish, exit 0 (a second signal exits at once)
SIGHUP: reload the config (validated first; on a problem the running config stays, logged)
exit:   0 stopped, 2 bad config, 1 other error (also when the listening socket dies)`,

  async run(args: CliArgs): Promise<number> {
    const listenValue = Deno.env.get("BLITZ_LISTEN");
    const base = await createRuntime({
      configPath: args.config,
      log: jsonLogger,
      checkStore: true,
    });
    let lock: Deno.FsFile | undefined;
    try {
      const problems = preflight(base);
      if (problems.length) throw new ConfigError(problems);
      const { hostname, port } = listenValue === undefined
        ? parseListen(base.config.global.listen, "listen")
        : parseListen(listenValue, "BLITZ_LISTEN");
      lock = await lockDataDir(base.config.global.data_dir);
      return await serve(base, { hostname, port });
    } finally {
      await closeRuntime(base).catch(() => {});
      lock?.close();
    }
  },
};

async function serve(
  base: Runtime,
  listen: { hostname: string; port: number },
): Promise<number> {
  const metrics = new Metrics();
  metrics.init(base.config.detectors.keys());
  const runtime = metrics.instrument(base);
  const { global } = runtime.config;
  const queue = new Queue(runtime, { metrics });
  const { requeued } = await queue.start(global.workers);
  const every = global.retention.every;
  const retention = new RetentionJob(runtime, {
    metrics,
    intervalMs: every,
    firstRunMs: Math.min(60_000, every),
  });
  retention.start();
  const storm = new StormJob(runtime);
  storm.start();
  const channels = new ChannelQueue(runtime);
  channels.start();
  const handlers = createHandlers({ runtime, queue, metrics });
  let stopping: Promise<number> | undefined;
  let server: GuardedServer;
  let threaded: ThreadedServer | undefined;
  let addr: Deno.NetAddr;
  try {
    if (global.http_threads > 0) {
      server = threaded = await serveThreads({
        hostname: listen.hostname,
        port: listen.port,
        threads: global.http_threads,
        maxConnections: global.max_connections,
        headerTimeoutMs: global.header_timeout,
        idleTimeoutMs: global.idle_timeout,
        log: runtime.log,
        answered: (status) => metrics.request("/ingest", status),
        config: {
          tokens: global.ingest_tokens,
          hmacSecret: global.ingest_hmac_secret,
          maxBodyBytes: global.max_body_bytes,
          maxJsonDepth: global.max_json_depth,
          detectors: threadDetectors(runtime.config.detectors),
        },
      }, handlers);
      addr = server.addr;
    } else {
      const ready = Promise.withResolvers<Deno.NetAddr>();
      server = serveGuarded({
        hostname: listen.hostname,
        port: listen.port,
        maxConnections: global.max_connections,
        headerTimeoutMs: global.header_timeout,
        idleTimeoutMs: global.idle_timeout,
        onListen: (addr) => ready.resolve(addr),
        log: runtime.log,
      }, handlers.handler);
      addr = await ready.promise;
    }
  } catch (err) {
    throw new Error(
      `Cannot listen on ${listen.hostname}:${listen.port}: ${
        errorMessage(err)
      }`,
    );
  }
  const host = addr.hostname.includes(":")
    ? `[${addr.hostname}]`
    : addr.hostname;
  runtime.log("listening", {
    address: `http://${host}:${addr.port}`,
    workers: global.workers,
    ...(threaded ? { http_threads: global.http_threads } : {}),
    ...(global.workers === 0
      ? { processing: "paused (workers: 0): alerts are stored, not sent" }
      : {}),
    detectors: runtime.config.detectors.size,
    backlog: queue.backlog,
    requeued,
  });
  console.log(`Blitz listening on http://${host}:${addr.port}`);

  const done = Promise.withResolvers<number>();
  // A listener that dies (its socket closed under it) would leave a process that is alive and serves
  // nothing: exit non-zero so the supervisor restarts it.
  server.finished.catch((err) => {
    if (stopping) return;
    runtime.log("listener_failed", { error: errorMessage(err), exit: 1 });
    stopping = stop("listener_failed", 1);
    stopping.then(done.resolve, done.reject);
  });
  const onSignal = (signal: Deno.Signal) => {
    if (stopping) {
      runtime.log("stop_forced", { signal });
      Deno.exit(1);
    }
    stopping = stop(signal);
    stopping.then(done.resolve, done.reject);
  };
  const signals: [Deno.Signal, () => void][] = (["SIGTERM", "SIGINT"] as const)
    .map((s) => [s, () => onSignal(s)]);
  for (const [signal, handler] of signals) {
    Deno.addSignalListener(signal, handler);
  }
  // SIGHUP (systemctl reload): validate the changed config, then use it for new alerts; on a problem
  // keep the running one and log why. Reloads run one at a time.
  let reloading = Promise.resolve();
  const onHangup = () => {
    reloading = reloading.then(() => reload());
  };
  signals.push(["SIGHUP", onHangup]);
  Deno.addSignalListener("SIGHUP", onHangup);

  async function reload(): Promise<void> {
    const file = runtime.config.file;
    const result = await reloadConfig(runtime, {
      check: (config) => preflight({ ...runtime, config }),
    });
    if (!result.ok) {
      runtime.log("config_reload_failed", {
        file,
        problems: result.problems,
        kept: "the running config",
      });
      return;
    }
    metrics.init(result.config.detectors.keys());
    threaded?.detectors(result.config.detectors);
    runtime.log("config_reloaded", {
      file,
      detectors: result.config.detectors.size,
      restart_needed: result.restartNeeded,
    });
  }

  async function stop(signal: string, code = 0): Promise<number> {
    // Grace: one enrichment round and one delivery attempt, at most a minute.
    const graceMs = Math.min(
      60_000,
      global.enrichment_timeout + global.delivery.timeout + 5_000,
    );
    runtime.log("stopping", {
      signal,
      backlog: queue.backlog,
      busy: queue.busy,
      grace_ms: graceMs,
    });
    // From here ingest answers 503 and workers claim nothing new; the listener closes, requests in
    // flight finish (their alerts are committed), alerts in progress get the grace period.
    const [, { unfinished }] = await Promise.all([
      within(server.shutdown(), 10_000),
      queue.stop({ graceMs }),
      retention.stop(),
      storm.stop(),
      channels.stop({ graceMs }),
    ]);
    runtime.log("stopped", { backlog: queue.backlog, unfinished });
    if (unfinished > 0) {
      // Still busy after the grace period: leave those alerts "processing" for the next start.
      Deno.exit(code);
    }
    return code;
  }

  try {
    return await done.promise;
  } finally {
    for (const [signal, handler] of signals) {
      Deno.removeSignalListener(signal, handler);
    }
  }
}

export default command;
