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
import { inProcessInvoker, type Invoker, TimeoutError } from "./call.ts";
import { formatDuration } from "../duration.ts";
import type {
  CallContext,
  FromWorker,
  PluginDescription,
  ToWorker,
} from "./sandbox_worker.ts";
import { PluginPool, type PoolOptions } from "./_sandbox_pool.ts";
import type { SandboxEvent, SandboxStats } from "./_sandbox_stats.ts";
import {
  startWorker,
  toError,
  workerPermissions,
} from "./_sandbox_worker_start.ts";

export type {
  SandboxEvent,
  SandboxStats,
  TerminateReason,
} from "./_sandbox_stats.ts";
export { workerPermissions } from "./_sandbox_worker_start.ts";

const STAND_IN = Symbol("blitz.sandbox.standIn");

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
