/**
 * A storm-control harness for tests: a project with detectors, a runtime on an injected clock (start
 * 2026-03-02T10:02:00Z, moved with `advance`), mail to a real SMTP server on loopback, and helpers to
 * ingest alerts through the pipeline and read what the store recorded.
 *
 * @module
 */
import { ingestAlert, type Runtime } from "../core/pipeline/pipeline.ts";
import type { IngestSummary } from "../core/pipeline/pipeline.ts";
import { closeRuntime, createRuntime } from "../core/service/runtime.ts";
import { StormJob } from "../core/service/storm_job.ts";
import { Metrics } from "../core/service/metrics.ts";
import { Queue } from "../core/service/queue.ts";
import { createApp } from "../routes/app.ts";
import { writeProject } from "./_config.ts";
import { startPostgres } from "./_postgres.ts";
import { startSmtpServer, type TestSmtpServer } from "./_smtp.ts";

/** The harness; dispose it with `await using`. */
export interface StormHarness {
  runtime: Runtime;
  smtp: TestSmtpServer;
  /** The project folder's paths and env. */
  project: Awaited<ReturnType<typeof writeProject>>;
  /** The runtime clock's current time. */
  now(): Date;
  /** Moves the clock forward by `ms`. */
  advance(ms: number): void;
  /** Log events, in order. */
  events: [string, Record<string, unknown>][];
  ingest(
    alert: Record<string, unknown>,
    detector?: string,
  ): Promise<IngestSummary>;
  /** Opens a second runtime on the same project and store (a restart, or another instance). */
  reopen(): Promise<void>;
  /** Runs the storm timers due at the clock's time (what serve's job does each second). */
  runTimers(): Promise<number>;
  /** The metrics the runtime reports to. */
  metrics: Metrics;
  /** A request to the app (routes as serve has them), on the harness clock. */
  request(url: string, init?: RequestInit): Promise<Response>;
  /** Opens an action link's confirmation page and confirms it as `actor`; returns the result page. */
  confirm(
    link: string,
    actor: string,
  ): Promise<{ status: number; html: string }>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** The clock's start: 10:02 UTC. */
export const START = Date.parse("2026-03-02T10:02:00Z");

/** Starts a harness whose first detector is the default for `ingest`; `env` adds `${env:}` values. */
export async function stormHarness(
  detectors: Record<string, Record<string, unknown>>,
  global: Record<string, unknown> = {},
  env: Record<string, string> = {},
): Promise<StormHarness> {
  const smtp = await startSmtpServer();
  const project = await writeProject({
    global: {
      smtp: `${smtp.url}?ignore_tls=1`,
      ...global,
    },
    detectors,
  });
  Object.assign(project.env, env);
  let time = START;
  const events: [string, Record<string, unknown>][] = [];
  const open = () =>
    createRuntime({
      configPath: project.config,
      env: (name) => project.env[name],
      log: (event, fields = {}) => events.push([event, fields]),
      clock: () => new Date(time),
    });
  const metrics = new Metrics();
  const instrumented = async () => metrics.instrument(await open());
  const harness: StormHarness = {
    runtime: await instrumented(),
    metrics,
    smtp,
    project,
    events,
    now: () => new Date(time),
    advance: (ms) => void (time += ms),
    ingest: (alert, detector = Object.keys(detectors)[0]!) =>
      ingestAlert(harness.runtime, detector, alert),
    async reopen() {
      await closeRuntime(harness.runtime);
      harness.runtime = await instrumented();
    },
    runTimers: () => new StormJob(harness.runtime).runDue(),
    request: (url, init) =>
      Promise.resolve(
        createApp({
          runtime: harness.runtime,
          queue: new Queue(harness.runtime),
          metrics,
          now: () => time,
        }).request(url, init),
      ),
    async confirm(link, actor) {
      const page = await harness.request(link);
      const html = await page.text();
      if (page.status !== 200) return { status: page.status, html };
      const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";
      const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1] ??
        link;
      const done = await harness.request(action.replaceAll("&amp;", "&"), {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ csrf, actor }),
      });
      return { status: done.status, html: await done.text() };
    },
    async [Symbol.asyncDispose]() {
      await closeRuntime(harness.runtime).catch(() => {});
      await smtp.close();
      await project.cleanup();
    },
  };
  return harness;
}

/** A Suricata-like alert: nested `alert.signature_id`, top-level `src_ip`. */
export function suricata(
  signatureId: number,
  srcIp: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    src_ip: srcIp,
    dest_ip: "10.0.0.5",
    alert: { signature_id: signatureId, signature: `ET RULE ${signatureId}` },
    ...extra,
  };
}

/**
 * A harness `make` builds on a fresh database of a throwaway PostgreSQL server (`store` goes into
 * its global config); disposing of the harness stops the server.
 */
export async function onPostgres(
  make: (store: { store: Record<string, unknown> }) => Promise<StormHarness>,
): Promise<StormHarness> {
  const pg = await startPostgres();
  if (!pg) throw new Error("PostgreSQL is not installed");
  let h: StormHarness;
  try {
    h = await make({
      store: { backend: "postgres", url: await pg.freshDatabase() },
    });
  } catch (err) {
    await pg.stop();
    throw err;
  }
  const dispose = h[Symbol.asyncDispose];
  h[Symbol.asyncDispose] = async () => {
    await dispose();
    await pg.stop();
  };
  return h;
}
