/**
 * Several `blitz serve` instances on one PostgreSQL database, for the scale-out tests: a project
 * whose store is the database (`store.url` through `${env:BLITZ_DATABASE_URL}`), mailing to a loopback
 * SMTP server, and helpers to start instances, post alerts round-robin and wait for bounded
 * conditions.
 *
 * @module
 */
import { type TestProject, writeProject } from "./_config.ts";
import { ingestRequest } from "./_ingest.ts";
import { type ServeProcess, startServe } from "./_serve.ts";

/** The ingest token every instance accepts. */
export const TOKEN = `ingest-${crypto.randomUUID()}`;

/** A project on the database at `url`; `global` adds to or replaces the config's keys. */
export async function instancesProject(
  options: {
    url: string;
    smtp: string;
    global?: Record<string, unknown>;
    detectors?: Record<string, Record<string, unknown>>;
  },
): Promise<{ project: TestProject; start(): Promise<ServeProcess> }> {
  const project = await writeProject({
    global: {
      listen: "127.0.0.1:0",
      ingest_tokens: ["${env:BLITZ_INGEST_TOKEN}"],
      smtp: `${options.smtp}?ignore_tls=1`,
      store: { backend: "postgres", url: "${env:BLITZ_DATABASE_URL}" },
      data_dir: "${env:BLITZ_DATA_DIR}", // each instance its own (outbox, lock), as on its own host
      workers: 4,
      rate_limit: "100000/s burst 100000",
      delivery: {
        max_attempts: 50,
        backoff: "100ms",
        max_backoff: "1s",
        timeout: "5s",
      },
      ...options.global,
    },
    detectors: options.detectors ??
      { t1: { subject: "Alert {n}", enrichments: [] } },
  });
  const env = {
    ...project.env,
    BLITZ_INGEST_TOKEN: TOKEN,
    BLITZ_DATABASE_URL: options.url,
  };
  let instances = 0;
  return {
    project,
    async start() {
      const dataDir = `${project.dataDir}/instance${++instances}`;
      await Deno.mkdir(dataDir, { recursive: true });
      return await startServe({
        config: project.config,
        env: { ...env, BLITZ_DATA_DIR: dataDir },
        dirs: [project.dir],
        writeDirs: [dataDir],
        timeoutMs: 60_000,
      });
    },
  };
}

/** POSTs one alert `{n}` to `server`; the status (0 when the connection failed). */
export async function postAlert(
  server: ServeProcess,
  n: number,
  detector = "t1",
): Promise<{ status: number; retryAfter: string | null }> {
  try {
    const res = await fetch(
      `${server.url}/ingest/${detector}`,
      ingestRequest(TOKEN, JSON.stringify({ n })),
    );
    await res.body?.cancel();
    return { status: res.status, retryAfter: res.headers.get("retry-after") };
  } catch {
    return { status: 0, retryAfter: null };
  }
}

/**
 * Posts alerts `0 … count-1` round-robin over `servers` with `concurrency` senders; `onPosted(k)`
 * runs after the k-th post (to kill an instance mid-burst). Returns the `n` that got a 202.
 */
export async function burst(
  servers: () => ServeProcess[],
  options: {
    count: number;
    concurrency?: number;
    onPosted?: (posted: number) => Promise<void> | void;
    statuses?: Map<number, number>;
  },
): Promise<Set<number>> {
  const accepted = new Set<number>();
  let next = 0;
  let posted = 0;
  const sender = async () => {
    while (next < options.count) {
      const n = next++;
      const all = servers();
      const { status } = await postAlert(all[n % all.length]!, n);
      options.statuses?.set(status, (options.statuses.get(status) ?? 0) + 1);
      if (status === 202) accepted.add(n);
      await options.onPosted?.(++posted);
    }
  };
  await Promise.all(
    Array.from({ length: options.concurrency ?? 16 }, sender),
  );
  return accepted;
}

/** Waits until `condition` holds, checking every 100 ms; throws naming `what` after `timeoutMs`. */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string | (() => string),
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for ${
          typeof what === "string" ? what : what()
        }`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
