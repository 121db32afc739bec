/**
 * Retention in `serve`: a job that clears the bodies of finished alerts older than `retention.alerts`
 * and their rendered emails older than `retention.emails` (defaults 90 d and 30 d), in small batches
 * with a turn of the event loop between them, so ingest and workers never wait long behind it. Rows,
 * statuses, subjects, recipients, delivery outcomes and action runs (the audit trail) stay. Each run
 * reports what it freed: one `retention_purged` log line and the `blitz_retention_*` metrics.
 *
 * @module
 */
import type { Runtime } from "../pipeline/pipeline.ts";
import type { PurgeCounts } from "../store/store.ts";
import type { Metrics } from "./metrics.ts";

/** Options of {@link RetentionJob}. */
export interface RetentionOptions {
  metrics?: Metrics;
  /** Rows of each kind per batch (one short transaction). @default 200 */
  batchSize?: number;
  /** Time between runs. @default 1 hour */
  intervalMs?: number;
  /** Delay of the first run after start. @default 1 minute */
  firstRunMs?: number;
}

/** The purge job; `start()` schedules it, `runOnce()` runs it now (tests, with the runtime's clock). */
export class RetentionJob {
  #runtime: Runtime;
  #options: Required<Omit<RetentionOptions, "metrics">> & { metrics?: Metrics };
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<PurgeCounts> | undefined;
  #stopped = false;

  constructor(runtime: Runtime, options: RetentionOptions = {}) {
    this.#runtime = runtime;
    this.#options = {
      batchSize: options.batchSize ?? 200,
      intervalMs: options.intervalMs ?? 3_600_000,
      firstRunMs: options.firstRunMs ?? 60_000,
      ...(options.metrics ? { metrics: options.metrics } : {}),
    };
  }

  /** Schedules runs (none when the store cannot purge). The timer never keeps the process alive. */
  start(): void {
    if (!this.#runtime.store.purge) return;
    this.#schedule(this.#options.firstRunMs);
  }

  /** Stops scheduling and waits for a run in progress to finish its batch. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running?.catch(() => {});
  }

  /** Runs batches until none is left (or the job is stopped); logs and counts what was freed. */
  runOnce(): Promise<PurgeCounts> {
    return this.#running ??= this.#run().finally(
      () => (this.#running = undefined),
    );
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    const timer = setTimeout(() => {
      this.runOnce()
        .catch((err) =>
          this.#runtime.log("retention_failed", {
            error: (err as Error).message,
          })
        )
        .finally(() => this.#schedule(this.#options.intervalMs));
    }, ms);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  async #run(): Promise<PurgeCounts> {
    const { store, config } = this.#runtime;
    const total: PurgeCounts = { alerts: 0, emails: 0, bytes: 0 };
    if (!store.purge) return total;
    const now = (this.#runtime.clock ?? (() => new Date()))().getTime();
    const { retention } = config.global;
    const alertsBefore = new Date(now - retention.alerts);
    const emailsBefore = new Date(now - retention.emails);
    const limit = this.#options.batchSize;
    const started = performance.now();
    let batches = 0;
    for (;;) {
      const counts = await store.purge({ alertsBefore, emailsBefore, limit });
      batches++;
      total.alerts += counts.alerts;
      total.emails += counts.emails;
      total.bytes += counts.bytes;
      if ((counts.alerts < limit && counts.emails < limit) || this.#stopped) {
        break;
      }
      // Let ingest and the workers in between batches.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    this.#options.metrics?.purged(total);
    this.#runtime.log("retention_purged", {
      alerts: total.alerts,
      emails: total.emails,
      freed_bytes: total.bytes,
      batches,
      alerts_before: alertsBefore.toISOString(),
      emails_before: emailsBefore.toISOString(),
      ms: Math.round(performance.now() - started),
    });
    return total;
  }
}
