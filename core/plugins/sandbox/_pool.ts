/**
 * The workers of one plugin module: a small pool of sandbox workers, each running many calls at once,
 * with a deadline per call. A call past its deadline retires its worker; a worker that does not
 * acknowledge the abort within the grace (counted from when it has loaded its plugin) is blocked,
 * terminated at once and counted as stuck, and `maxStuck` stuck workers disable the plugin (see
 * `sandbox.ts` for why).
 *
 * @module
 */
import { errorMessage, TimeoutError } from "../call.ts";
import { formatDuration } from "../../duration.ts";
import type {
  CallContext,
  FromWorker,
  ToWorker,
  WireError,
} from "./sandbox_worker.ts";
import { redact } from "../../secrets.ts";
import {
  type Declared,
  startWorker,
  toError,
  workerEnv,
  workerPermissions,
} from "./_worker_start.ts";
import {
  newSandboxStats,
  type SandboxEvent,
  type SandboxStats,
  type TerminateReason,
} from "./_stats.ts";

/** The settled options of a pool; `SandboxOptions` in `sandbox.ts` documents each one and its default. */
export interface PoolOptions {
  poolSize: number;
  idleMs: number;
  graceMs: number;
  maxStuck: number;
  log: (line: string) => void;
  onMetrics?: (event: SandboxEvent) => void;
}

type Timer = ReturnType<typeof setTimeout>;

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: Timer;
  started: number;
}

interface Slot {
  worker: Worker;
  inflight: Map<number, Pending>;
  /** Overrun calls whose abort the worker has not acknowledged yet. */
  unacked: Set<number>;
  timers: Set<Timer>;
  idle?: Timer;
  /** Out of the pool after an overrun; terminated once its calls settle. */
  retiring: boolean;
  dead: boolean;
  started: number;
  /** Whether the worker has loaded its plugin ("ready"); until then it cannot acknowledge an abort. */
  ready: boolean;
  /** Runs when it becomes ready: the abort graces of calls that overran while it was loading. */
  whenReady: (() => void)[];
}

/** How long a worker may take to load its plugin before an overrun call's grace runs regardless. */
const LOAD_BOUND_MS = 30_000;

/** The workers of one plugin module. */
export class PluginPool {
  readonly name: string;
  readonly stats: SandboxStats = newSandboxStats();
  #url: string;
  #permissions: Deno.PermissionOptionsObject;
  #env: string[] | null;
  #options: PoolOptions;
  #slots = new Set<Slot>();
  #seq = 0;

  constructor(
    url: string,
    name: string,
    declared: Declared | undefined,
    options: PoolOptions,
  ) {
    this.name = name;
    this.#url = url;
    this.#permissions = workerPermissions(declared, url);
    this.#env = workerEnv(declared);
    this.#options = options;
  }

  /** Runs one call in a worker under a deadline. */
  call(
    params: unknown,
    ctx: CallContext,
    timeoutMs: number,
    validate: boolean,
  ): Promise<unknown> {
    if (this.stats.disabled) {
      return Promise.reject(
        new Error(
          `Plugin "${this.name}" is disabled: ${this.stats.stuck} calls blocked its sandbox worker past their deadline; restart Blitz to re-enable it`,
        ),
      );
    }
    const slot = this.#pick();
    const id = ++this.#seq;
    this.stats.calls++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => this.#overrun(slot, id, timeoutMs),
        timeoutMs,
      );
      slot.inflight.set(id, {
        resolve,
        reject,
        timer,
        started: performance.now(),
      });
      try {
        slot.worker.postMessage(
          { type: "call", id, params, ctx, validate } satisfies ToWorker,
        );
      } catch (err) {
        this.#settle(slot, id, {
          ok: false,
          error: {
            name: "DataCloneError",
            message: `cannot pass params to the sandbox: ${errorMessage(err)}`,
          },
        });
      }
    });
  }

  /** Terminates every worker; their calls reject with `error`. */
  close(error: Error): void {
    for (const slot of [...this.#slots]) this.#terminate(slot, "close", error);
  }

  #pick(): Slot {
    let best: Slot | undefined;
    let live = 0;
    for (const slot of this.#slots) {
      if (slot.retiring) continue;
      live++;
      if (!best || slot.inflight.size < best.inflight.size) best = slot;
    }
    if (!best || (best.inflight.size > 0 && live < this.#options.poolSize)) {
      best = this.#spawn();
    }
    if (best.idle !== undefined) clearTimeout(best.idle);
    delete best.idle;
    return best;
  }

  #spawn(): Slot {
    const worker = startWorker(this.name, this.#permissions);
    const slot: Slot = {
      worker,
      inflight: new Map(),
      unacked: new Set(),
      timers: new Set(),
      retiring: false,
      dead: false,
      started: performance.now(),
      ready: false,
      whenReady: [],
    };
    worker.onmessage = (event: MessageEvent<FromWorker>) =>
      this.#onMessage(slot, event.data);
    worker.onerror = (event) => {
      event.preventDefault();
      this.#terminate(
        slot,
        "crash",
        new Error(`Sandbox worker of "${this.name}" crashed: ${event.message}`),
      );
    };
    worker.onmessageerror = () =>
      this.#terminate(
        slot,
        "crash",
        new Error(
          `Sandbox worker of "${this.name}" sent an unreadable message`,
        ),
      );
    this.#slots.add(slot);
    this.stats.spawned++;
    this.stats.workers++;
    worker.postMessage(
      { type: "init", url: this.#url, env: this.#env } satisfies ToWorker,
    );
    return slot;
  }

  #onMessage(slot: Slot, message: FromWorker): void {
    if (slot.dead) return;
    if (message.type === "ready") {
      slot.ready = true;
      for (const arm of slot.whenReady.splice(0)) arm();
      this.#options.onMetrics?.({
        type: "spawn",
        plugin: this.name,
        ms: performance.now() - slot.started,
      });
    } else if (message.type === "failed") {
      this.#terminate(slot, "load_failed", toError(message.error));
    } else if (message.type === "result") {
      slot.unacked.delete(message.id);
      this.#settle(slot, message.id, message);
    } else if (message.type === "aborted") {
      slot.unacked.delete(message.id);
      this.#finishRetired(slot);
    } else if (message.type === "log") {
      this.#options.log(redact(`[${this.name}] ${message.message}`));
    }
  }

  #settle(
    slot: Slot,
    id: number,
    outcome: { ok: true; value: unknown } | { ok: false; error: WireError },
  ): void {
    const pending = slot.inflight.get(id);
    if (!pending) return this.#finishRetired(slot); // a late answer to an overrun call
    slot.inflight.delete(id);
    clearTimeout(pending.timer);
    if (!outcome.ok) this.stats.errors++;
    this.#options.onMetrics?.({
      type: "call",
      plugin: this.name,
      ms: performance.now() - pending.started,
      outcome: outcome.ok ? "ok" : "error",
    });
    if (outcome.ok) pending.resolve(outcome.value);
    else pending.reject(toError(outcome.error));
    if (slot.retiring) return this.#finishRetired(slot);
    if (slot.inflight.size === 0) {
      const idle = setTimeout(
        () => this.#terminate(slot, "idle"),
        this.#options.idleMs,
      );
      Deno.unrefTimer(idle);
      slot.idle = idle;
    }
  }

  #finishRetired(slot: Slot): void {
    if (slot.retiring && slot.inflight.size === 0 && slot.unacked.size === 0) {
      this.#terminate(slot, "timeout");
    }
  }

  #overrun(slot: Slot, id: number, timeoutMs: number): void {
    const pending = slot.inflight.get(id);
    if (!pending) return;
    slot.inflight.delete(id);
    this.stats.timeouts++;
    this.#options.onMetrics?.({
      type: "call",
      plugin: this.name,
      ms: performance.now() - pending.started,
      outcome: "timeout",
    });
    const message = `timed out after ${formatDuration(timeoutMs)}`;
    pending.reject(new TimeoutError(message));
    slot.retiring = true;
    slot.unacked.add(id);
    slot.worker.postMessage({ type: "abort", id, message } satisfies ToWorker);
    // A worker still loading its plugin (a loaded host) has not run the call: its grace starts
    // once it is ready, so a slow start is not counted as stuck; a load past LOAD_BOUND_MS is.
    if (slot.ready) this.#arm(slot, id, this.#options.graceMs);
    else {
      slot.whenReady.push(() => this.#arm(slot, id, this.#options.graceMs));
      this.#arm(slot, id, LOAD_BOUND_MS);
    }
  }

  /** Terminates `slot` as blocked, counting it stuck, if call `id`'s abort is still unacknowledged after `ms`. */
  #arm(slot: Slot, id: number, ms: number): void {
    const timer = setTimeout(() => {
      slot.timers.delete(timer);
      if (!slot.unacked.has(id) || slot.dead) return;
      this.stats.stuck++;
      if (this.stats.stuck >= this.#options.maxStuck) this.stats.disabled = 1;
      this.#terminate(
        slot,
        "blocked",
        new Error(
          `Sandbox worker of "${this.name}" stopped: a call that overran its deadline blocked it`,
        ),
      );
    }, ms);
    slot.timers.add(timer);
  }

  #terminate(slot: Slot, reason: TerminateReason, error?: Error): void {
    if (slot.dead) return;
    slot.dead = true;
    slot.worker.terminate();
    this.#slots.delete(slot);
    this.stats.workers--;
    this.stats.terminated++;
    if (slot.idle !== undefined) clearTimeout(slot.idle);
    for (const timer of slot.timers) clearTimeout(timer);
    const failure = error ??
      new Error(`Sandbox worker of "${this.name}" stopped (${reason})`);
    for (const pending of slot.inflight.values()) {
      clearTimeout(pending.timer);
      this.stats.errors++;
      pending.reject(failure);
    }
    slot.inflight.clear();
    this.#options.onMetrics?.({ type: "terminate", plugin: this.name, reason });
  }
}
