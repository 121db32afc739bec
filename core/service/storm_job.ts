/**
 * Storm control's timers in `serve` (issue 11): a job that claims due timers from the store (window
 * ends, silence ends; like queue items, with a lease) on the runtime clock and runs them
 * (`core/pipeline/storm_mail.ts`). Timers live in the store, never only in memory: a restart, a
 * reload or another instance runs what is due; a timer whose email fails is run again once its lease
 * lapses.
 *
 * @module
 */
import { errorMessage } from "../errors.ts";
import type { Runtime } from "../pipeline/pipeline.ts";
import { runStormTimer } from "../pipeline/storm_mail.ts";

/** Options of {@link StormJob}. */
export interface StormJobOptions {
  /** Time between looks for due timers. @default 1000 */
  pollMs?: number;
  /** How long a claimed timer is held before another run may take it. @default 300000 */
  leaseMs?: number;
  /** Timers claimed per look. @default 20 */
  batch?: number;
}

/** The timer job; `start()` polls, `runDue()` runs what is due now (tests, with the runtime's clock). */
export class StormJob {
  #runtime: Runtime;
  #pollMs: number;
  #leaseMs: number;
  #batch: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<number> | undefined;
  #stopped = false;

  constructor(runtime: Runtime, options: StormJobOptions = {}) {
    this.#runtime = runtime;
    this.#pollMs = options.pollMs ?? 1_000;
    this.#leaseMs = options.leaseMs ?? 300_000;
    this.#batch = options.batch ?? 20;
  }

  /** Starts polling; the timer never keeps the process alive. */
  start(): void {
    this.#schedule();
  }

  /** Stops polling and waits for a run in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running?.catch(() => {});
  }

  /** Runs every timer due now; returns how many ran (sent or had nothing to say). */
  runDue(): Promise<number> {
    return this.#running ??= this.#run().finally(() =>
      this.#running = undefined
    );
  }

  #schedule(): void {
    if (this.#stopped) return;
    const timer = setTimeout(() => {
      this.runDue().catch((err) =>
        this.#runtime.log("storm_timer_error", { error: errorMessage(err) })
      ).finally(() => this.#schedule());
    }, this.#pollMs);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  async #run(): Promise<number> {
    const runtime = this.#runtime;
    let ran = 0;
    for (;;) {
      const now = runtime.clock?.() ?? new Date();
      const due = await runtime.store.storm.claimTimers({
        now,
        leaseMs: this.#leaseMs,
        limit: this.#batch,
      });
      for (const timer of due) {
        try {
          const outcome = await runStormTimer(runtime, timer);
          await runtime.store.storm.finishTimer(
            timer.id,
            runtime.clock?.() ?? new Date(),
          );
          ran++;
          if (outcome === "unknown") {
            runtime.log("storm_timer_unknown", {
              id: timer.id,
              kind: timer.kind,
            });
          }
        } catch (err) {
          // Left claimed: it runs again once its lease lapses.
          runtime.log("storm_timer_failed", {
            id: timer.id,
            kind: timer.kind,
            error: errorMessage(err),
            retry_after_ms: this.#leaseMs,
          });
        }
      }
      if (due.length < this.#batch || this.#stopped) return ran;
    }
  }
}
