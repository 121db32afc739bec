/**
 * The durable work queue of the service. The store is the queue: `enqueue` writes alerts and resolves
 * only once they are on disk; a fixed pool of workers claims due alerts and runs the pipeline's `processAlert`, which records
 * delivery retries with backoff and final failures. On start, alerts a previous process left in
 * "processing" are queued again (crash recovery).
 *
 * Idle workers claim together: one store call claims a due alert for each worker waiting at that moment
 * (`claimBatch`), never more, so nothing is held "processing" without a worker on it. Claiming and
 * sleeping until a wake-up live in `_queue_claim.ts`.
 *
 * On a SQLite store one `serve` process owns the store: start-up requeues every "processing" alert.
 * On a shared store (PostgreSQL, several instances) leases are short (30 s) and renewed by the store
 * while the work goes on; start-up and every backlog refresh requeue only lapsed leases (an instance
 * that died), and an insert on any instance wakes the idle workers of all (LISTEN/NOTIFY).
 *
 * @module
 */
import { Claimer } from "./_claim.ts";
import { errorMessage } from "../plugins/call.ts";
import { InputError } from "../errors.ts";
import { publicError } from "../secrets.ts";
import type { Metrics } from "./metrics.ts";
import { processAlert, type Runtime } from "../pipeline/pipeline.ts";
import { retryOrFail } from "../delivery/retry.ts";
import {
  type AlertRecord,
  isDiskFull,
  type NewAlert,
  type QuarantinedAlert,
  untilSpace,
} from "../store/store.ts";

/** What `enqueue` returns for each alert: its id, and whether it was already recorded (a retry). */
export interface EnqueueResult {
  id: string;
  duplicate: boolean;
}

/** Backlog slots held by {@link Queue.reserve}. */
export interface BacklogSlots {
  /** Holds `more` slots too, if the limit allows; false (and nothing held) when it does not. */
  grow(more: number): boolean;
  /** Gives every held slot back (idempotent). */
  release(): void;
}

/** Options of {@link Queue}. */
export interface QueueOptions {
  metrics?: Metrics;
  /** How long a claimed alert is leased to a worker. @default 600000, 30000 on a shared store */
  leaseMs?: number;
  /** How often idle workers look for due retries even without a wake-up. @default 1000 */
  pollMs?: number;
  /** How often the cached backlog is re-read from the store. @default 5000 */
  refreshMs?: number;
}

const FINAL = new Set(["delivered", "not_sent", "failed", "suppressed"]);

/**
 * The worker pool and its durable queue.
 *
 * @example
 * ```ts
 * const queue = new Queue(runtime, { metrics });
 * await queue.start(4);
 * const [{ id }] = await queue.enqueue([{ id: newAlertId(), detector: "device_1", alert }]);
 * await queue.stop({ graceMs: 30_000 });
 * ```
 */
export class Queue {
  #runtime: Runtime;
  #metrics: Metrics | undefined;
  #refreshMs: number;
  #claimer: Claimer;
  #backlog = 0;
  /**
   * Writes that change the backlog (new alerts, outcomes) issued and not yet counted in `#backlog`. A
   * store write is visible to a read before its promise resolves (a new alert is committed before its
   * fsync ends), so a refresh read while one is in flight would count it and then count it again.
   */
  #uncounted = 0;
  /** Bumped each time such a write is issued: a refresh read that saw it change is not exact. */
  #issued = 0;
  /** A refresh was due while writes were in flight: it runs once they are all counted. */
  #refreshWanted = false;
  #busy = 0;
  /** Backlog slots held by requests between their check and their insert (see reserve). */
  #reserved = 0;
  #loops: Promise<void>[] = [];
  /** Outcome writes the workers did not wait for (see #process); stop() waits for them. */
  #writes = new Set<Promise<void>>();
  #refreshTimer: ReturnType<typeof setInterval> | undefined;
  #unsubscribe: (() => void) | undefined;
  #state: "new" | "running" | "stopping" | "stopped" = "new";

  constructor(runtime: Runtime, options: QueueOptions = {}) {
    this.#runtime = runtime;
    this.#metrics = options.metrics;
    this.#refreshMs = options.refreshMs ?? 5_000;
    this.#claimer = new Claimer(runtime, {
      leaseMs: options.leaseMs ?? (runtime.store.shared ? 30_000 : 600_000),
      pollMs: options.pollMs ?? 1_000,
      running: () => this.#state === "running",
    });
  }

  /** Alerts queued, processing or waiting for a retry (cached; exact after each refresh). */
  get backlog(): number {
    return Math.max(0, this.#backlog);
  }

  /**
   * Holds `count` backlog slots for alerts a request is about to enqueue, if `limit` leaves room for
   * them next to the backlog and every slot held already; undefined when it does not. The check and the
   * hold are one synchronous step, so concurrent requests cannot all pass a check made before any of
   * them is stored (1,000 requests once overshot a `max_backlog` of 10 by 990). Release the slots once
   * the alerts are enqueued (they are counted in the backlog then) or refused.
   */
  reserve(count: number, limit: number): BacklogSlots | undefined {
    if (this.#backlog + this.#reserved + count > limit) return undefined;
    this.#reserved += count;
    let held = count;
    return {
      grow: (more) => {
        if (this.#backlog + this.#reserved + more > limit) return false;
        this.#reserved += more;
        held += more;
        return true;
      },
      release: () => {
        this.#reserved -= held;
        held = 0;
      },
    };
  }

  /** Backlog slots held by requests that have not enqueued yet. */
  get reserved(): number {
    return this.#reserved;
  }

  /** Workers processing an alert right now. */
  get busy(): number {
    return this.#busy;
  }

  /** Workers started. */
  get workers(): number {
    return this.#loops.length;
  }

  /** True between `start` and `stop`. */
  get running(): boolean {
    return this.#state === "running";
  }

  /**
   * Requeues what a previous process left in "processing", reads the backlog, and starts `workers`
   * workers. Returns how many alerts were requeued.
   */
  async start(
    workers: number = this.#runtime.config.global.workers,
  ): Promise<{ requeued: number }> {
    if (this.#state !== "new") throw new Error("Cannot start the queue twice");
    const store = this.#runtime.store;
    const requeued = await store.requeueStale({
      all: !store.shared,
      quarantineAfter: this.#runtime.config.global.quarantine_after,
      onQuarantined: this.#logQuarantined,
    });
    if (requeued > 0) {
      this.#runtime.log("requeued", {
        count: requeued,
        reason: store.shared
          ? "lease lapsed: its instance stopped or died"
          : "unfinished when the last process stopped",
      });
    }
    this.#unsubscribe = store.onQueued?.((count) => this.notify(count));
    this.#backlog = await this.#runtime.store.backlog();
    this.#state = "running";
    this.#refreshTimer = setInterval(() => {
      void this.#refresh();
      if (store.shared) void this.#takeOver();
    }, this.#refreshMs);
    for (let i = 0; i < workers; i++) this.#loops.push(this.#work());
    return { requeued };
  }

  /**
   * Durably records new alerts (status "queued") and wakes workers. Alerts with an `idempotency_key`
   * already recorded for their detector are not inserted again: their result carries the original id
   * and `duplicate: true`. All alerts of one call are written atomically (the store groups concurrent
   * writes into one commit). Resolves after the write is committed.
   */
  async enqueue(alerts: NewAlert[]): Promise<EnqueueResult[]> {
    // Allowed while stopping and after: requests in flight during shutdown still get their alerts stored
    // (the next start processes them). Only a closed store refuses.
    if (alerts.length === 0) return [];
    this.#issue();
    try {
      const results = await this.#runtime.store.insertAlertsIdempotent(alerts);
      this.#accepted(results);
      return results;
    } finally {
      this.#counted();
    }
  }

  /** Wakes up to `count` idle workers (after an insert made by someone else). */
  notify(count = Infinity): void {
    this.#claimer.notify(count);
  }

  /**
   * Stops: workers take no new alert, those in progress get `graceMs` to finish. Alerts still in
   * progress after that stay "processing" and are requeued by the next start. Returns how many were
   * still in progress.
   */
  async stop(
    options: { graceMs?: number } = {},
  ): Promise<{ unfinished: number }> {
    if (this.#state === "new") this.#state = "stopped";
    if (this.#state === "stopped") return { unfinished: 0 };
    this.#state = "stopping";
    clearInterval(this.#refreshTimer);
    this.#unsubscribe?.();
    this.#claimer.stop(); // cancels the retry timer, wakes every idle worker
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((
      resolve,
    ) => (timer = setTimeout(resolve, options.graceMs ?? 30_000)));
    await Promise.race([Promise.all(this.#loops), grace]);
    // Outcome writes the workers left behind commit with the next group commit, unless the disk hangs:
    // the same grace bounds them (an alert whose outcome is not written is requeued by the next start).
    await Promise.race([Promise.all(this.#writes), grace]);
    clearTimeout(timer);
    this.#state = "stopped";
    return { unfinished: this.#busy };
  }

  #accepted(results: EnqueueResult[]): void {
    const fresh = results.filter((r) => !r.duplicate).length;
    if (fresh === 0) return;
    this.#backlog += fresh;
    this.notify(fresh);
  }

  /** A write that changes the backlog is about to be issued. */
  #issue(): void {
    this.#uncounted++;
    this.#issued++;
  }

  /** A write from {@link #issue} is counted (or failed); a refresh held back for it runs now. */
  #counted(): void {
    this.#uncounted--;
    if (
      this.#uncounted === 0 && this.#refreshWanted && this.#state === "running"
    ) {
      void this.#refresh();
    }
  }

  /**
   * Re-reads the backlog from the store (it corrects for alerts other processes wrote or finished).
   * The read is taken only while no counted write of this process is in flight, and kept only if none
   * was issued during it: otherwise it could hold an alert the counter then adds again (the backlog
   * stayed one too high until the next refresh), or miss one whose outcome the counter then subtracts.
   */
  async #refresh(): Promise<void> {
    if (this.#uncounted > 0) {
      this.#refreshWanted = true;
      return;
    }
    this.#refreshWanted = false;
    const issued = this.#issued;
    try {
      const stored = await this.#runtime.store.backlog();
      if (this.#uncounted === 0 && this.#issued === issued) {
        this.#backlog = stored;
      } else this.#refreshWanted = true;
    } catch (err) {
      this.#runtime.log("queue_error", {
        error: errorMessage(err),
        during: "backlog refresh",
      });
    }
  }

  /** One `quarantined` line per alert `requeueStale` set to failed after `quarantine_after` crashed claims. */
  #logQuarantined = (alerts: QuarantinedAlert[]): void => {
    for (const pill of alerts) {
      this.#runtime.log("quarantined", {
        alert_id: pill.id,
        detector: pill.detector,
        attempts: pill.attempts,
        reason: pill.reason,
      });
    }
  };

  /** On a shared store: requeues the alerts whose lease lapsed (their instance died), for any worker. */
  async #takeOver(): Promise<void> {
    try {
      const requeued = await this.#runtime.store.requeueStale({
        quarantineAfter: this.#runtime.config.global.quarantine_after,
        onQuarantined: this.#logQuarantined,
      });
      if (requeued === 0) return;
      this.#runtime.log("requeued", {
        count: requeued,
        reason: "lease lapsed: its instance stopped or died",
      });
      this.notify(requeued);
    } catch (err) {
      this.#runtime.log("queue_error", {
        error: errorMessage(err),
        during: "requeue of lapsed leases",
      });
    }
  }

  async #work(): Promise<void> {
    while (this.#state === "running") {
      const { record, wakes } = await this.#claimer.claim();
      if (!record) {
        await this.#claimer.sleep(wakes);
        continue;
      }
      this.#busy++;
      try {
        await this.#process(record);
      } finally {
        this.#busy--;
      }
    }
  }

  /**
   * Runs the pipeline on one claimed alert. The worker is free again once the alert is delivered (or
   * not): the outcome's write joins the next group commit without the worker waiting for it, and the
   * metrics and backlog follow that write, so they never count what the store does not have yet.
   */
  async #process(record: AlertRecord): Promise<void> {
    const runtime = this.#runtime;
    let status: AlertRecord["status"];
    let nextAttemptAt: string | undefined;
    let written: Promise<void> | undefined;
    /** The catch below issued its own write (counted in the `written === undefined` branch). */
    let issuedOwn = false;
    try {
      const done = await processAlert(runtime, record, {
        recording: (write) => {
          this.#issue();
          written = write;
        },
      });
      status = done.status;
      nextAttemptAt = done.next_attempt_at;
    } catch (err) {
      // A bug or a store error, not a delivery failure: record it and retry like a delivery, so the
      // alert is never stuck and never dropped. An unknown detector (config changed) fails at once.
      // A full disk is no delivery attempt: the alert waits for space with its attempts unchanged.
      const full = isDiskFull(err);
      const attempts = full ? record.attempts : record.attempts + 1;
      const decision = retryOrFail(runtime.config.global.delivery, {
        attempts,
        transient: !(err instanceof InputError),
        now: runtime.clock?.() ?? new Date(),
      });
      const final = decision.final;
      const error = publicError(err);
      nextAttemptAt = decision.final ? undefined : decision.nextAttemptAt;
      status = final ? "failed" : "retry";
      if (written === undefined) {
        this.#issue();
        issuedOwn = true;
      } // else counted once, with `written` below
      const write = () =>
        runtime.store.updateAlert(
          record.id,
          nextAttemptAt === undefined
            ? { status, attempts, last_error: error }
            : {
              status,
              attempts,
              last_error: error,
              next_attempt_at: nextAttemptAt,
            },
        );
      try {
        // Refused for a full disk: held until space returns, or the alert would stay "processing"
        // until a restart.
        await write().catch((e) =>
          isDiskFull(e) ? untilSpace(write) : Promise.reject(e)
        );
      } catch (again) {
        runtime.log("queue_error", {
          alert_id: record.id,
          detector: record.detector,
          error: errorMessage(again),
        });
        this.#counted();
        return; // left "processing": the next start requeues it
      }
      runtime.log(final ? "failed" : "process_retry", {
        alert_id: record.id,
        detector: record.detector,
        attempts,
        error,
      });
    }
    if (written === undefined) {
      // A suppressed alert: storm control's store write already recorded it; nothing was issued here.
      try {
        this.#done(record, status, nextAttemptAt);
      } finally {
        if (issuedOwn) this.#counted();
      }
    } else {
      const settled: Promise<void> = written.then(
        () => this.#doneSafely(record, status, nextAttemptAt),
        (err) =>
          runtime.log("queue_error", {
            alert_id: record.id,
            detector: record.detector,
            error: errorMessage(err),
            note:
              "outcome not recorded: the alert stays processing until the next start requeues it",
          }),
      ).finally(() => {
        this.#writes.delete(settled);
        this.#counted();
      });
      this.#writes.add(settled);
    }
  }

  /** {@link #done} after a write the worker did not wait for: a throw here has no one to catch it. */
  #doneSafely(
    record: AlertRecord,
    status: AlertRecord["status"],
    nextAttemptAt: string | undefined,
  ): void {
    try {
      this.#done(record, status, nextAttemptAt);
    } catch (err) {
      this.#runtime.log("queue_error", {
        alert_id: record.id,
        detector: record.detector,
        error: errorMessage(err),
        during: "counting a recorded outcome",
      });
    }
  }

  /** Counts a processed alert once its outcome is in the store. */
  #done(
    record: AlertRecord,
    status: AlertRecord["status"],
    nextAttemptAt: string | undefined,
  ): void {
    this.#metrics?.processed(record.detector, status);
    // No clamp at 0 here: a worker can claim and finish an alert committed but not yet fsynced, so
    // its outcome may be counted before enqueue's `#accepted` adds it (the getter hides the dip).
    if (FINAL.has(status)) this.#backlog--;
    else if (status === "retry" && nextAttemptAt !== undefined) {
      this.#claimer.wakeAtTime(Date.parse(nextAttemptAt));
    }
  }
}
