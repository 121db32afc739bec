/**
 * How an idle worker of the queue gets its next alert. Idle workers claim together: one store call
 * claims a due alert for each worker waiting at that moment (`claimBatch`), never more, so nothing is
 * held "processing" without a worker on it. A worker left without an alert sleeps until a wake-up, the
 * poll interval, or the timer armed for the earliest known retry.
 *
 * @module
 */
import { errorMessage } from "../plugins/call.ts";
import type { Runtime } from "../pipeline/pipeline.ts";
import type { AlertRecord } from "../store/store.ts";

/** Claims due alerts for the queue's idle workers and puts them to sleep when none are due. */
export class Claimer {
  #runtime: Runtime;
  #leaseMs: number;
  #pollMs: number;
  #running: () => boolean;
  #idle = new Set<() => void>();
  /** Workers waiting for the claim in progress (or the next one) to hand them an alert. */
  #waiting: ((record: AlertRecord | undefined, wakes: number) => void)[] = [];
  #claiming = false;
  /** Counts wake-ups, so a worker sent to sleep by a claim that missed one claims again at once. */
  #wakes = 0;
  #wakeTimer: ReturnType<typeof setTimeout> | undefined;
  #wakeAt = Infinity;

  constructor(
    runtime: Runtime,
    options: { leaseMs: number; pollMs: number; running: () => boolean },
  ) {
    this.#runtime = runtime;
    this.#leaseMs = options.leaseMs;
    this.#pollMs = options.pollMs;
    this.#running = options.running;
  }

  /** Wakes up to `count` idle workers. */
  notify(count = Infinity): void {
    this.#wakes++;
    for (const wake of this.#idle) {
      if (count-- <= 0) break;
      wake();
    }
  }

  /** Cancels the retry timer and wakes every idle worker (the queue is stopping). */
  stop(): void {
    clearTimeout(this.#wakeTimer);
    this.notify();
  }

  /**
   * A due alert for this worker, or none (with the wake-up count its claim started from). Workers that
   * ask in the same turn share one `claimBatch` call.
   */
  claim(): Promise<{ record: AlertRecord | undefined; wakes: number }> {
    return new Promise((resolve) => {
      this.#waiting.push((record, wakes) => resolve({ record, wakes }));
      if (this.#waiting.length === 1 && !this.#claiming) {
        queueMicrotask(() => this.#pump());
      }
    });
  }

  /** Claims for the waiting workers until they all have an alert or nothing more is due. */
  async #pump(): Promise<void> {
    if (this.#claiming) return;
    this.#claiming = true;
    try {
      while (this.#waiting.length > 0 && this.#running()) {
        const limit = this.#waiting.length;
        const wakes = this.#wakes;
        let records: AlertRecord[] = [];
        try {
          records = await this.#runtime.store.claimBatch({
            leaseMs: this.#leaseMs,
            limit,
          });
        } catch (err) {
          this.#runtime.log("queue_error", {
            error: errorMessage(err),
            during: "claim",
          });
          this.#release(this.#wakes); // the workers sleep, then try again
          break;
        }
        for (const record of records) this.#waiting.shift()!(record, wakes);
        // Fewer than asked: nothing else was due. The rest sleep, and claim again at once if a wake-up
        // came while the claim ran.
        if (records.length < limit) this.#release(wakes);
      }
    } finally {
      this.#claiming = false;
    }
    if (!this.#running()) this.#release(this.#wakes);
  }

  /** Sends every waiting worker to sleep (or, when stopping, out of its loop). */
  #release(wakes: number): void {
    for (const resolve of this.#waiting.splice(0)) resolve(undefined, wakes);
  }

  /** Arms one timer for the earliest known retry, so a retry runs on time rather than at the next poll. */
  wakeAtTime(at: number): void {
    if (!(at < this.#wakeAt) || !this.#running()) return;
    clearTimeout(this.#wakeTimer);
    this.#wakeAt = at;
    this.#wakeTimer = setTimeout(() => {
      this.#wakeAt = Infinity;
      this.notify(1);
    }, Math.max(0, at - Date.now()));
  }

  /** Waits for a wake-up or the poll interval; returns at once if a wake-up came after `wakes`. */
  sleep(wakes: number): Promise<void> {
    if (!this.#running() || wakes !== this.#wakes) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#idle.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, this.#pollMs);
      this.#idle.add(wake);
    });
  }
}
