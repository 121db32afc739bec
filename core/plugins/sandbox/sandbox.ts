/**
 * The plugin sandbox (SECURITY.md 12 and 13): each plugin runs granted exactly the permissions it
 * declares, under a deadline that really stops it.
 *
 * Plugins from `plugin_dirs` run in child processes (`_process_pool.ts`): a warm pool per
 * plugin of `deno run` processes started from this process's Deno binary with only the plugin's
 * permission flags and `--v8-flags=--max-old-space-size=<memoryMb>`, one call at a time each, messages
 * framed over stdin/stdout. At a call's deadline its process is SIGKILLed and replaced ("plugin timed
 * out after 5s and was killed"); a process that runs out of heap or crashes fails only its call
 * ("plugin crashed: out of memory (cap 128 MB)"). Their modules are also loaded (`loadSandboxed`) in a
 * child process, so not even a plugin's top-level code can spin or exhaust memory in Blitz. All plugins
 * together run at most `maxProcesses` children (config `plugin_processes_max`,
 * `_process_slots.ts`): beyond it calls wait, each until its deadline, and idle children of
 * other plugins are ended to make room. The parent needs `--allow-run` for the Deno binary (see
 * docs/security.md).
 *
 * Built-in plugins (reviewed code of this repository) run in a small pool of Deno Workers (or in this
 * process, in the bundle): a Worker runs many calls at once and costs less per call, but cannot be
 * stopped while it spins (Deno 2.9, denoland/deno#35657) nor capped. A call past its deadline is
 * rejected with TimeoutError at once and its worker leaves the pool; a worker that does not acknowledge
 * the abort within `graceMs` is terminated and counted as stuck, and `maxStuck` stuck workers disable
 * the plugin until restart (`stats()` reports `stuck`).
 *
 * Permissions: `net`, `env`, `read` (and `sys`, if a plugin declares it) as declared: `true`, a list,
 * or nothing. Plus read access to the plugin's own folder and to `core/`, so it can import its modules
 * (npm packages need no grant). Never `write`, `run`, `ffi` or remote imports. The environment (a child
 * process's, or `process.env` in a worker) holds only the declared variables. A denied call throws
 * Deno's `NotCapable`, reported as `permission denied: env access to "HOME"` and recorded as that
 * enrichment's error.
 *
 * Workers need `--unstable-worker-options` (or `"unstable": ["worker-options"]` in deno.json).
 *
 * @module
 */
import { inProcessInvoker, type Invoker } from "../call.ts";
import type { CallContext } from "./sandbox_worker.ts";
import { PluginPool, type PoolOptions } from "./_pool.ts";
import { ProcessPool, type ProcessPoolOptions } from "./_process_pool.ts";
import { ProcessSlots } from "./_process_slots.ts";
import type { SandboxEvent, SandboxStats } from "./_stats.ts";
import { DEFAULT_PLUGIN_MEMORY_MB, isStandIn } from "./_load.ts";

export type { SandboxEvent, SandboxStats, TerminateReason } from "./_stats.ts";
export { workerPermissions } from "./_worker_start.ts";
export { childArgs } from "./_process.ts";
export {
  checkSandboxed,
  DEFAULT_PLUGIN_MEMORY_MB,
  type LoadOptions,
  loadSandboxed,
  type SandboxedPlugin,
} from "./_load.ts";

/** The default cap on child processes of all plugins together (config `plugin_processes_max`). */
export const DEFAULT_PLUGIN_PROCESSES_MAX = 16;

/** Options of {@linkcode createSandboxInvoker}. */
export interface SandboxOptions {
  /** Workers per built-in plugin; each runs many calls at once, so this bounds CPU and memory, not concurrency. @default 2 */
  poolSize?: number;
  /** Child processes per `plugin_dirs` plugin; each runs one call at a time, so this bounds its concurrency. @default 4 */
  processes?: number;
  /**
   * Child processes of all `plugin_dirs` plugins together; past it calls queue (each until its
   * deadline) and idle children of other plugins are ended to make room. @default 16
   */
  maxProcesses?: number;
  /** V8 heap cap of each child process, in MB. @default 128 */
  memoryMb?: number;
  /** Where built-in plugins run: in workers like custom ones, or in this process. @default "sandbox" */
  builtins?: "sandbox" | "in-process";
  /** An idle worker, or an idle child process beyond a plugin's last one, ends after this long. @default 60_000 */
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

/** The sandbox: an Invoker whose workers and child processes `close()` ends, with counters for metrics. */
export type SandboxInvoker = Invoker & {
  /** Terminates every worker and kills every child process (resolves once they are gone); calls in flight and later calls reject. */
  close(): Promise<void>;
  /** The pids of the child processes alive now, per plugin name. */
  pids(): Record<string, number[]>;
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
  const processOptions: ProcessPoolOptions = {
    size: Math.max(1, options.processes ?? 4),
    memoryMb: options.memoryMb ?? DEFAULT_PLUGIN_MEMORY_MB,
    slots: new ProcessSlots(
      options.maxProcesses ?? DEFAULT_PLUGIN_PROCESSES_MAX,
    ),
    idleMs: poolOptions.idleMs,
    log: poolOptions.log,
    ...(options.onMetrics ? { onMetrics: options.onMetrics } : {}),
  };
  const pools = new Map<string, PluginPool | ProcessPool>();
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
          pool = entry.builtin
            ? new PluginPool(
              entry.url,
              plugin.name,
              plugin.permissions,
              poolOptions,
            )
            : new ProcessPool(
              entry.url,
              plugin.name,
              plugin.permissions,
              processOptions,
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
    async close() {
      closed = true;
      await Promise.all(
        [...pools.values()].map((pool) =>
          pool.close(new Error("The sandbox is closed"))
        ),
      );
    },
    pids() {
      const out: Record<string, number[]> = {};
      for (const pool of pools.values()) {
        if (pool instanceof ProcessPool) {
          (out[pool.name] ??= []).push(...pool.pids());
        }
      }
      return out;
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
