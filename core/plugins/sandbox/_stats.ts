/**
 * What the sandbox reports: an event per worker spawn, call and termination, and counters per plugin.
 *
 * @module
 */
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

/** Why a worker or child process ended: retired or killed after an overrun, blocked by one, out of memory, or the rest. */
export type TerminateReason =
  | "timeout"
  | "blocked"
  | "crash"
  | "oom"
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

/** Fresh counters of one plugin's pool (Workers or child processes alike). */
export function newSandboxStats(): SandboxStats {
  return {
    workers: 0,
    spawned: 0,
    terminated: 0,
    calls: 0,
    errors: 0,
    timeouts: 0,
    stuck: 0,
    disabled: 0,
  };
}
