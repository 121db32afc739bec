/**
 * The channel outbox's workers in `serve`: claim due (alert, channel, event) deliveries from the store
 * with a lease, make one attempt at each (`core/channels/channels.ts` `attemptDelivery`, which records
 * the outcome and the next attempt's time), and sleep until the pipeline queues more (the runtime's
 * `onChannelWork`) or the next poll. Entries are independent: a slow or failing channel holds one slot
 * of `concurrency`, never another channel's entry.
 *
 * A lease outlives any attempt (deadline per request, at most a minute), so an entry whose worker died
 * is claimed again after its lease by this or another process.
 *
 * @module
 */
import { attemptDelivery } from "../channels/channels.ts";
import { errorMessage } from "../errors.ts";
import type { Runtime } from "../pipeline/pipeline.ts";

/** Options of {@link ChannelQueue}. */
export interface ChannelQueueOptions {
  /** Attempts in flight at once. @default 4 */
  concurrency?: number;
  /** How often to look for due retries without a wake-up. @default 1000 */
  pollMs?: number;
  /** Lease of a claimed entry. @default 120000 */
  leaseMs?: number;
}

/** The channel outbox's worker loop; `start()` it beside the alert queue, `stop()` it on shutdown. */
export class ChannelQueue {
  #runtime: Runtime;
  #concurrency: number;
  #pollMs: number;
  #leaseMs: number;
  #inFlight = new Set<Promise<void>>();
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #running = false;

  constructor(runtime: Runtime, options: ChannelQueueOptions = {}) {
    this.#runtime = runtime;
    this.#concurrency = options.concurrency ?? 4;
    this.#pollMs = options.pollMs ?? 1_000;
    this.#leaseMs = options.leaseMs ?? 120_000;
  }

  /** Attempts in flight. */
  get busy(): number {
    return this.#inFlight.size;
  }

  /** Starts the loop and hooks the runtime's `onChannelWork` to wake it. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#runtime.onChannelWork = () => this.notify();
    this.#loop = this.#work();
  }

  /** Wakes the loop (deliveries were queued). */
  notify(): void {
    this.#wake?.();
  }

  /** Stops claiming; attempts in flight get `graceMs` to finish (an unfinished one is re-claimed after its lease). */
  async stop(options: { graceMs?: number } = {}): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#wake?.();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      (async () => {
        await this.#loop;
        await Promise.all(this.#inFlight);
      })(),
      new Promise<void>((resolve) =>
        timer = setTimeout(resolve, options.graceMs ?? 10_000)
      ),
    ]);
    clearTimeout(timer);
  }

  async #work(): Promise<void> {
    while (this.#running) {
      const free = this.#concurrency - this.#inFlight.size;
      let claimed = 0;
      if (free > 0) {
        try {
          const due = await this.#runtime.store.claimDeliveries({
            now: this.#runtime.clock?.() ?? new Date(),
            leaseMs: this.#leaseMs,
            limit: free,
          });
          claimed = due.length;
          for (const delivery of due) {
            const attempt: Promise<void> = attemptDelivery(
              this.#runtime,
              delivery,
            )
              .then(() => {}, (err) =>
                this.#runtime.log("channel_error", {
                  alert_id: delivery.alert_id,
                  channel: delivery.channel,
                  error: errorMessage(err),
                  note:
                    "outcome not recorded: the entry is claimed again after its lease",
                }))
              .finally(() => {
                this.#inFlight.delete(attempt);
                this.#wake?.();
              });
            this.#inFlight.add(attempt);
          }
        } catch (err) {
          this.#runtime.log("channel_error", {
            error: errorMessage(err),
            during: "claiming channel deliveries",
          });
        }
      }
      if (claimed === free && free > 0) continue; // more may be due
      await this.#sleep();
    }
  }

  /** Until a wake-up (new work, a finished attempt, stop) or the poll interval. */
  #sleep(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.#pollMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        this.#wake = undefined;
        done();
      };
    });
  }
}
