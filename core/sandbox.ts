/**
 * The plugin sandbox (SECURITY.md 12 and 13): each plugin runs in a small pool of Deno Workers granted
 * exactly the permissions it declares, under a deadline.
 *
 * Permissions: `net`, `env`, `read` (and `sys`, if a plugin declares it) as declared: `true`, a list,
 * or nothing. Plus read access to the plugin's own folder and to `core/`, so it can import its modules
 * (npm packages need no grant). Never `write`, `run`, `ffi` or remote imports. `process.env` holds only
 * the declared variables. A denied call throws Deno's `NotCapable`, reported as
 * `permission denied: env access to "HOME"` and recorded as that enrichment's error.
 *
 * Deadlines: a call past its deadline is rejected with TimeoutError at once, and its worker leaves the
 * pool (replacements start lazily). The worker is sent an abort for that call. If it acknowledges
 * (its event loop is alive), it is terminated as soon as its other calls have settled. If it does
 * not acknowledge within `graceMs`, its event loop is blocked by synchronous code: it is terminated
 * at once (its other calls fail) and counted as stuck.
 *
 * Deno 2.9 caveat (checked on 2.9.6; denoland/deno#35657): `Worker.terminate()` does not interrupt
 * JavaScript that never yields. A `while (true) {}` keeps its thread, and a CPU core, busy until the
 * process exits, and keeps the process from exiting on its own: the CLI must end with `Deno.exit()`.
 * Because each stuck worker may hold a core, a plugin that leaves `maxStuck` stuck workers is
 * disabled until restart, and `stats()` reports `stuck` for alerting.
 *
 * Needs `--unstable-worker-options` (or `"unstable": ["worker-options"]` in deno.json); without it Deno
 * exits when the first worker starts. A worker never gets more than the process has.
 *
 * @module
 */
import { errorMessage, TimeoutError } from "./call.ts";
import { formatDuration } from "./duration.ts";
import { inProcessInvoker, type Invoker } from "./enrich.ts";
import type { Permissions } from "./plugin.ts";
import type {
  CallContext,
  FromWorker,
  PluginDescription,
  ToWorker,
  WireError,
} from "./sandbox_worker.ts";
import { redact } from "./secrets.ts";

const WORKER_URL = new URL("./sandbox_worker.ts", import.meta.url);
const CORE_DIR = decodeURIComponent(new URL(".", import.meta.url).pathname);
const STAND_IN = Symbol("blitz.sandbox.standIn");

/** What the sandbox reports for metrics. */
export type SandboxEvent =
  | { type: "spawn"; plugin: string; ms: number }
  | {
    type: "call";
    plugin: string;
    ms: number;
    outcome: "ok" | "error" | "timeout";
  }
  | { type: "terminate"; plugin: string; reason: TerminateReason };

/** Why a worker was terminated: retired after an overrun, blocked by one, or the rest. */
export type TerminateReason =
  | "timeout"
  | "blocked"
  | "crash"
  | "load_failed"
  | "idle"
  | "close";

/** Counters per plugin name, for `/metrics`. */
export interface SandboxStats {
  /** Workers alive now. */
  workers: number;
  spawned: number;
  terminated: number;
  calls: number;
  errors: number;
  timeouts: number;
  /** Workers terminated while blocked; each may keep a CPU core busy until the process exits. */
  stuck: number;
  /** 1 when the plugin is disabled for leaving `maxStuck` stuck workers. */
  disabled: number;
}

/** Options of {@linkcode createSandboxInvoker}. */
export interface SandboxOptions {
  /** Workers per plugin; each runs many calls at once, so this bounds CPU and memory, not concurrency. @default 2 */
  poolSize?: number;
  /** Where built-in plugins run: in workers like custom ones, or in this process. @default "sandbox" */
  builtins?: "sandbox" | "in-process";
  /** An idle worker is terminated after this long (the timer does not keep the process alive). @default 60_000 */
  idleMs?: number;
  /** How long a worker has to acknowledge the abort of an overrun call before it counts as blocked. @default 1_000 */
  graceMs?: number;
  /** Stuck workers after which a plugin is disabled until restart. @default 2 */
  maxStuck?: number;
  /** Receives spawn, call and terminate events (metrics). */
  onMetrics?: (event: SandboxEvent) => void;
  /** Where plugin log lines and console output go, already redacted. @default console.error */
  log?: (line: string) => void;
}

/** The sandbox: an Invoker whose workers `close()` terminates, with counters for metrics. */
export type SandboxInvoker = Invoker & {
  /** Terminates every worker; calls in flight and later calls reject. */
  close(): Promise<void>;
  /** Counters per plugin name. */
  stats(): Record<string, SandboxStats>;
};

type Declared = Permissions & { sys?: boolean | string[] };

/** Deno worker permissions for a plugin: exactly what it declares, plus reading its own modules. */
export function workerPermissions(
  declared: Declared | undefined,
  moduleUrl: string,
): Deno.PermissionOptionsObject {
  const grant = (value: boolean | string[] | undefined) =>
    value === true
      ? true
      : Array.isArray(value) && value.length > 0
      ? [...value]
      : false;
  const read = declared?.read === true ? true : [
    ...(Array.isArray(declared?.read) ? declared.read : []),
    ...moduleDirs(moduleUrl),
  ];
  return {
    net: grant(declared?.net),
    env: grant(declared?.env),
    read: read === true || read.length > 0 ? read : false,
    sys: grant(declared?.sys),
    write: false,
    run: false,
    ffi: false,
    import: false,
  };
}

function moduleDirs(moduleUrl: string): string[] {
  const url = new URL(moduleUrl);
  if (url.protocol !== "file:") return [];
  return [decodeURIComponent(new URL(".", url).pathname), CORE_DIR];
}

function toError(wire: WireError): Error {
  const error = wire.name === "TimeoutError"
    ? new TimeoutError(wire.message)
    : new Error(wire.message);
  error.name = wire.name;
  return error;
}

function startWorker(
  name: string,
  permissions: Deno.PermissionOptionsObject,
): Worker {
  try {
    return new Worker(WORKER_URL, {
      type: "module",
      name: `blitz-sandbox:${name}`,
      deno: { permissions },
    });
  } catch (err) {
    throw new Error(
      `Cannot start the sandbox of "${name}": ${errorMessage(err)}`,
    );
  }
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
}

type PoolOptions =
  & Required<Omit<SandboxOptions, "onMetrics" | "builtins">>
  & Pick<SandboxOptions, "onMetrics">;

/** The workers of one plugin module. */
class PluginPool {
  readonly name: string;
  readonly stats: SandboxStats = {
    workers: 0,
    spawned: 0,
    terminated: 0,
    calls: 0,
    errors: 0,
    timeouts: 0,
    stuck: 0,
    disabled: 0,
  };
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
    this.#env = declared?.env === true
      ? null
      : Array.isArray(declared?.env)
      ? [...declared.env]
      : [];
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
    }, this.#options.graceMs);
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

/**
 * Creates the sandbox invoker: one pool of workers per plugin module (by `entry.url`), started lazily.
 *
 * @example
 * ```ts
 * import { createSandboxInvoker } from "./sandbox.ts";
 *
 * const sandbox = createSandboxInvoker({ poolSize: 2 });
 * // runtime.invoker = sandbox; … at shutdown:
 * await sandbox.close();
 * ```
 */
export function createSandboxInvoker(
  options: SandboxOptions = {},
): SandboxInvoker {
  const poolOptions: PoolOptions = {
    poolSize: Math.max(1, options.poolSize ?? 2),
    idleMs: options.idleMs ?? 60_000,
    graceMs: options.graceMs ?? 1_000,
    maxStuck: Math.max(1, options.maxStuck ?? 2),
    log: options.log ?? ((line: string) => console.error(line)),
    ...(options.onMetrics ? { onMetrics: options.onMetrics } : {}),
  };
  const pools = new Map<string, PluginPool>();
  let closed = false;
  return {
    invoke(entry, plugin, params, ctx, invokeOptions) {
      if (closed) return Promise.reject(new Error("The sandbox is closed"));
      if (entry.builtin && options.builtins === "in-process") {
        return inProcessInvoker.invoke(
          entry,
          plugin,
          params,
          ctx,
          invokeOptions,
        );
      }
      let pool = pools.get(entry.url);
      if (!pool) {
        pools.set(
          entry.url,
          pool = new PluginPool(
            entry.url,
            plugin.name,
            plugin.permissions,
            poolOptions,
          ),
        );
      }
      const callCtx: CallContext = {
        alert: ctx.alert,
        alertId: ctx.alertId,
        detector: ctx.detector,
        args: ctx.args,
        settings: ctx.settings,
      };
      try {
        return pool.call(
          params,
          callCtx,
          invokeOptions.timeoutMs,
          isStandIn(plugin),
        );
      } catch (err) {
        return Promise.reject(err);
      }
    },
    close() {
      closed = true;
      for (const pool of pools.values()) {
        pool.close(new Error("The sandbox is closed"));
      }
      return Promise.resolve();
    },
    stats() {
      const out: Record<string, SandboxStats> = {};
      for (const pool of pools.values()) {
        const next = { ...pool.stats };
        const prev = out[pool.name];
        if (prev) {
          for (const key of Object.keys(next) as (keyof SandboxStats)[]) {
            next[key] += prev[key];
          }
        }
        out[pool.name] = next;
      }
      return out;
    },
  };
}

/** A registry stand-in for a plugin whose module was loaded only inside a sandbox worker. */
export interface SandboxedPlugin extends Omit<PluginDescription, "hasParams"> {
  run(): never;
  [STAND_IN]: true;
}

function isStandIn(plugin: object): boolean {
  return (plugin as Partial<SandboxedPlugin>)[STAND_IN] === true;
}

/**
 * Imports a plugin module only inside a worker with no permissions beyond reading its own modules, so
 * its top-level code never runs in this process, and returns a stand-in for the registry: its declared
 * metadata and a `run` only the sandbox invoker can call (which then validates params in the worker).
 * Rejects with the load error, e.g. `permission denied: env access to "HOME"`.
 */
export function loadSandboxed(
  url: string,
  options: { timeoutMs?: number } = {},
): Promise<SandboxedPlugin> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  let worker: Worker;
  try {
    worker = startWorker("load", workerPermissions(undefined, url));
  } catch (err) {
    return Promise.reject(err);
  }
  return new Promise<SandboxedPlugin>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        done(
          new TimeoutError(
            `loading ${url} timed out after ${formatDuration(timeoutMs)}`,
          ),
        ),
      timeoutMs,
    );
    const done = (result: Error | PluginDescription) => {
      clearTimeout(timer);
      worker.terminate();
      if (result instanceof Error) return reject(result);
      const { hasParams: _, ...description } = result;
      resolve({
        ...description,
        run(): never {
          throw new Error(
            `Plugin "${description.name}" runs only in the sandbox`,
          );
        },
        [STAND_IN]: true,
      });
    };
    worker.onmessage = (event: MessageEvent<FromWorker>) => {
      if (event.data.type === "ready") done(event.data.description);
      else if (event.data.type === "failed") done(toError(event.data.error));
    };
    worker.onerror = (event) => {
      event.preventDefault();
      done(new Error(event.message));
    };
    worker.postMessage({ type: "init", url, env: [] } satisfies ToWorker);
  });
}
