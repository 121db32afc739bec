/**
 * The child processes of one plugin module (`plugin_dirs`): a warm pool of at most `size` sandbox
 * processes, each running one call at a time. Calls wait in a queue for a free process; the deadline
 * counts from the call. At its deadline a running call's process is SIGKILLed (spinning or not) and
 * replaced; a process that dies under a call (V8 out of heap at `memoryMb`, a crash, an exit) fails
 * that call with a clear error and is replaced. Replacements start only for processes that had loaded
 * the plugin (one that dies while loading fails the calls waiting for it, never loops). The last
 * process stays warm; extra ones end after `idleMs` idle. Every child takes a slot of the sandbox's
 * global cap (`_process_slots.ts`) before it starts and gives it back once it has exited; with
 * none free the calls stay queued, and an idle child may be ended for another plugin's call.
 * `close()` kills every child and waits for it. One child's states and protocol are
 * `_process_member.ts`.
 *
 * @module
 */
import { TimeoutError } from "../call.ts";
import { formatDuration } from "../../duration.ts";
import { redact } from "../../secrets.ts";
import type { CallContext } from "./sandbox_worker.ts";
import {
  type Declared,
  workerEnv,
  workerPermissions,
} from "./_worker_start.ts";
import { type ChildExit, describeExit } from "./_process.ts";
import {
  type CallResult,
  type MemberCall,
  PoolMember,
} from "./_process_member.ts";
import {
  newSandboxStats,
  type SandboxEvent,
  type SandboxStats,
  type TerminateReason,
} from "./_stats.ts";
import type { ProcessSlots, SlotWaiter } from "./_process_slots.ts";

/** The settled options of a process pool (`SandboxOptions` in `sandbox.ts` documents them). */
export interface ProcessPoolOptions {
  size: number;
  /** The children of all pools together (`plugin_processes_max`). */
  slots: ProcessSlots;
  memoryMb: number;
  idleMs: number;
  log: (line: string) => void;
  onMetrics?: (event: SandboxEvent) => void;
}

type Timer = ReturnType<typeof setTimeout>;

interface Call extends MemberCall {
  timeoutMs: number;
  started: number;
  timer?: Timer;
  proc?: Proc;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

type Proc = PoolMember<Call>;

/** The sandbox processes of one plugin module. */
export class ProcessPool {
  readonly name: string;
  readonly stats: SandboxStats = newSandboxStats();
  #url: string;
  #permissions: Deno.PermissionOptionsObject;
  #env: string[] | null;
  #options: ProcessPoolOptions;
  #procs = new Set<Proc>();
  #queue: Call[] = [];
  #seq = 0;
  #closed = false;
  /** In line for a slot of the global cap while calls wait that no process can take. */
  #waiter: SlotWaiter = {
    wants: () =>
      !this.#closed && this.#queue.length > this.#starting() &&
      this.#procs.size < this.#options.size,
    wake: () => this.#dispatch(),
  };

  constructor(
    url: string,
    name: string,
    declared: Declared | undefined,
    options: ProcessPoolOptions,
  ) {
    this.name = name;
    this.#url = url;
    this.#permissions = workerPermissions(declared, url);
    this.#env = workerEnv(declared);
    this.#options = options;
  }

  /** The pids of the live children (tests check that killed ones are gone). */
  pids(): number[] {
    return [...this.#procs].map((proc) => proc.child.pid);
  }

  /** Runs one call in a child process under a deadline. */
  call(
    params: unknown,
    ctx: CallContext,
    timeoutMs: number,
    validate: boolean,
  ): Promise<unknown> {
    if (this.#closed) {
      return Promise.reject(new Error("The sandbox is closed"));
    }
    this.stats.calls++;
    return new Promise((resolve, reject) => {
      const call: Call = {
        id: ++this.#seq,
        params,
        ctx,
        validate,
        timeoutMs,
        started: performance.now(),
        resolve,
        reject,
      };
      call.timer = setTimeout(() => this.#deadline(call), timeoutMs);
      this.#queue.push(call);
      this.#dispatch();
    });
  }

  /** Kills every child and waits until each is gone; waiting and running calls reject with `error`. */
  async close(error: Error): Promise<void> {
    this.#closed = true;
    for (const call of this.#queue.splice(0)) this.#fail(call, error);
    const exits: Promise<unknown>[] = [];
    for (const proc of this.#procs) {
      if (proc.call) this.#fail(proc.call, error);
      this.#end(proc, "close");
      exits.push(proc.child.exited);
    }
    await Promise.all(exits);
  }

  #starting(): number {
    return [...this.#procs].filter((p) => p.state === "starting").length;
  }

  #dispatch(): void {
    if (this.#closed) return;
    for (const proc of this.#procs) {
      if (this.#queue.length === 0) break;
      // Not one that is being ended (idle, or reclaimed for another plugin) and has not exited yet.
      if (proc.state === "idle" && !proc.reason) {
        this.#run(proc, this.#queue.shift()!);
      }
    }
    while (this.#waiter.wants()) {
      // Past the global cap the calls stay queued until a slot frees (or their deadline).
      if (!this.#options.slots.take(this.#waiter)) return;
      try {
        this.#spawn();
      } catch (err) {
        const error = new Error(
          `Cannot start the sandbox of "${this.name}": ${
            (err as Error).message
          }`,
        );
        for (const call of this.#queue.splice(0)) this.#fail(call, error);
        return;
      }
    }
  }

  /** Starts a child in a slot already taken (given back if it cannot start). */
  #spawn(): void {
    const slot = {};
    let proc: Proc;
    try {
      proc = new PoolMember<Call>({
        name: this.name,
        url: this.#url,
        permissions: this.#permissions,
        env: this.#env,
        memoryMb: this.#options.memoryMb,
      }, {
        ready: () => this.#onReady(proc),
        result: (call, result) => this.#onResult(proc, call, result),
        log: (message) =>
          this.#options.log(redact(`[${this.name}] ${message}`)),
      });
    } catch (err) {
      this.#options.slots.give(slot);
      throw err;
    }
    this.#procs.add(proc);
    this.stats.spawned++;
    this.stats.workers++;
    proc.child.exited.then((exit) => this.#onExit(proc, exit));
  }

  #run(proc: Proc, call: Call): void {
    this.#options.slots.busy(proc);
    call.proc = proc;
    try {
      proc.run(call);
    } catch (err) {
      this.#free(proc);
      this.#fail(
        call,
        new Error(
          `cannot pass params to the sandbox: ${(err as Error).message}`,
        ),
      );
    }
  }

  #onReady(proc: Proc): void {
    this.#options.onMetrics?.({
      type: "spawn",
      plugin: this.name,
      ms: performance.now() - proc.started,
    });
    this.#free(proc);
  }

  #onResult(proc: Proc, call: Call, result: CallResult): void {
    clearTimeout(call.timer);
    if (!result.ok) this.stats.errors++;
    this.#metric(call, result.ok ? "ok" : "error");
    if (result.ok) call.resolve(result.value);
    else call.reject(result.error);
    this.#free(proc);
  }

  /** A process is free: it takes the next call, or waits (extra ones end after idleMs). */
  #free(proc: Proc): void {
    proc.state = "idle";
    if (this.#queue.length > 0) return this.#dispatch();
    const idle = [...this.#procs].filter((p) => p.state === "idle");
    if (idle.length > 1) {
      proc.idle = setTimeout(() => {
        if (proc.state === "idle" && this.#procs.size > 1) {
          this.#end(proc, "idle");
        }
      }, this.#options.idleMs);
      Deno.unrefTimer(proc.idle);
    }
    // Another plugin waiting for a slot of the global cap may end it (last: this may end it at once).
    this.#options.slots.idle(proc, () => this.#end(proc, "idle"));
  }

  #deadline(call: Call): void {
    this.stats.timeouts++;
    this.#metric(call, "timeout");
    const took = formatDuration(call.timeoutMs);
    const proc = call.proc;
    if (!proc) {
      this.#queue.splice(this.#queue.indexOf(call), 1);
      // Say what it waited for: a process that was still starting (a loaded host), the global cap
      // (plugin_processes_max), or busy ones.
      const { slots, size } = this.#options;
      const busy = [...this.#procs].filter((p) => p.state === "busy").length;
      const waited = busy === 0 && this.#starting() > 0
        ? "for its sandbox process to start"
        : this.#procs.size < size && slots.used >= slots.max
        ? `for a sandbox process: all ${slots.max} that plugin_processes_max allows are in use`
        : `for a free sandbox process (all ${size} busy)`;
      call.reject(
        new TimeoutError(`timed out after ${took} waiting ${waited}`),
      );
      return;
    }
    delete proc.call;
    call.reject(
      new TimeoutError(`plugin timed out after ${took} and was killed`),
    );
    this.#end(proc, "timeout");
  }

  #end(proc: Proc, reason: TerminateReason): void {
    if (proc.reason) return;
    this.#options.slots.busy(proc);
    proc.end(reason);
  }

  #onExit(proc: Proc, exit: ChildExit): void {
    const wasReady = proc.loaded;
    proc.state = "dead";
    this.#procs.delete(proc);
    this.#options.slots.busy(proc);
    this.stats.workers--;
    this.stats.terminated++;
    const reason = proc.reason ?? (exit.cause === "oom" ? "oom" : "crash");
    this.#options.onMetrics?.({ type: "terminate", plugin: this.name, reason });
    const crash = new Error(describeExit(exit, this.#options.memoryMb));
    if (proc.call) {
      this.stats.errors++;
      this.#metric(proc.call, "error");
      this.#fail(proc.call, crash);
    }
    if (!this.#closed && !wasReady) {
      // It died loading the plugin: the calls waiting for it get why, and nothing respawns in a loop.
      const failure = proc.failure ?? crash;
      if (![...this.#procs].some((p) => p.state !== "starting")) {
        for (const call of this.#queue.splice(0)) this.#fail(call, failure);
      }
    }
    // Its slot goes to the first pool in line (this one's queue comes after those already waiting).
    this.#options.slots.give(proc);
    if (this.#closed || !wasReady) return;
    // Replace it (killed at a deadline, or crashed) so the pool stays warm; or serve the queue.
    if (this.#queue.length > 0) this.#dispatch();
    else if (
      reason !== "idle" && this.#procs.size === 0 &&
      this.#options.slots.take(this.#waiter)
    ) {
      try {
        this.#spawn();
      } catch (err) {
        this.#options.log(
          `[${this.name}] cannot restart its sandbox: ${
            (err as Error).message
          }`,
        );
      }
    }
  }

  #fail(call: Call, error: Error): void {
    clearTimeout(call.timer);
    if (call.proc?.call === call) delete call.proc.call;
    call.reject(error);
  }

  #metric(call: Call, outcome: "ok" | "error" | "timeout"): void {
    this.#options.onMetrics?.({
      type: "call",
      plugin: this.name,
      ms: performance.now() - call.started,
      outcome,
    });
  }
}
