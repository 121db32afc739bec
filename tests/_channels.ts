/**
 * A Blitz runtime for channel tests: a project whose global config has the given `channels`, one
 * detector (`ids`) that notifies them, a real SMTP server on loopback for the email, and the serve
 * mode's channel queue on demand. Also `signal()`, a promise a loopback fake resolves when the request
 * a test waits for arrives (tests wait for events, never for time).
 *
 * @example
 * ```ts
 * await using h = await channelHarness({ channels: { hook: { type: "webhook", url, secret: "${env:HOOK}" } }, env: { HOOK } });
 * const summary = await h.ingest({ src_ip: "203.0.113.7" });
 * ```
 *
 * @module
 */
import { ingestAlert, type Runtime } from "../core/pipeline/pipeline.ts";
import type { IngestSummary } from "../core/pipeline/pipeline.ts";
import { ChannelQueue } from "../core/service/channel_queue.ts";
import { closeRuntime, createRuntime } from "../core/service/runtime.ts";
import { writeProject } from "./_config.ts";
import { startSmtpServer, type TestSmtpServer } from "./_smtp.ts";

/** The sample alert channel tests ingest. */
export const SAMPLE_ALERT: Record<string, unknown> = {
  src_ip: "203.0.113.7",
  dest_ip: "10.0.0.5",
  signature: "ET SCAN Nmap",
  severity: "high",
};

/** A running harness; dispose it (`await using`). */
export interface ChannelHarness {
  runtime: Runtime;
  smtp: TestSmtpServer;
  /** Every line the runtime logged, as JSON. */
  logs: string[];
  /** The project's env (`${env:}` values), the test's extra env included. */
  env: Record<string, string>;
  /** Ingests one alert through the CLI's path (one attempt per channel). */
  ingest(alert?: Record<string, unknown>): Promise<IngestSummary>;
  /** Starts serve mode's channel queue (retries); stopped on dispose. */
  startChannelQueue(): ChannelQueue;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts SMTP, writes the project and builds its runtime. */
export async function channelHarness(options: {
  channels: Record<string, Record<string, unknown>>;
  /** The detector's `notify`. @default ["email", ...every channel] */
  notify?: string[];
  /** Extra detector keys (e.g. `actions`). */
  detector?: Record<string, unknown>;
  /** Extra global keys. */
  global?: Record<string, unknown>;
  env?: Record<string, string>;
  files?: Record<string, string>;
}): Promise<ChannelHarness> {
  const smtp = await startSmtpServer();
  const project = await writeProject({
    global: {
      smtp: smtp.url,
      channels: options.channels,
      delivery: { backoff: "20ms", max_backoff: "50ms", max_attempts: 50 },
      ...options.global,
    },
    detectors: {
      ids: {
        subject: "IDS: {signature} from {src_ip}",
        notify: options.notify ?? ["email", ...Object.keys(options.channels)],
        ...options.detector,
      },
    },
    ...(options.files ? { files: options.files } : {}),
  });
  const env = { ...project.env, ...options.env };
  const logs: string[] = [];
  let runtime: Runtime;
  try {
    runtime = await createRuntime({
      configPath: project.config,
      env: (name) => env[name],
      log: (event, fields) => logs.push(JSON.stringify({ event, ...fields })),
    });
  } catch (err) {
    await smtp.close();
    await project.cleanup();
    throw err;
  }
  const queues: ChannelQueue[] = [];
  return {
    runtime,
    smtp,
    logs,
    env,
    ingest: (alert = SAMPLE_ALERT) => ingestAlert(runtime, "ids", alert),
    startChannelQueue() {
      const queue = new ChannelQueue(runtime, { pollMs: 20 });
      queue.start();
      queues.push(queue);
      return queue;
    },
    async [Symbol.asyncDispose]() {
      for (const queue of queues) await queue.stop({ graceMs: 5_000 });
      await closeRuntime(runtime);
      await smtp.close();
      await project.cleanup();
    },
  };
}

/** A promise with its resolver, rejected after `timeoutMs` (a bound, not a timing) naming what it waited for. */
export function signal<T = void>(
  what: string,
  timeoutMs = 20_000,
): { promise: Promise<T>; resolve: (value: T) => void } {
  const { promise, resolve, reject } = Promise.withResolvers<T>();
  const timer = setTimeout(
    () => reject(new Error(`Timed out waiting for ${what}`)),
    timeoutMs,
  );
  return {
    promise: promise.finally(() => clearTimeout(timer)),
    resolve,
  };
}
