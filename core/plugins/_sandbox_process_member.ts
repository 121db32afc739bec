/**
 * One child process of a plugin's pool (`_sandbox_process_pool.ts`): its state (starting, then idle
 * and busy in turn, then dead), the call it runs, and the protocol with it: the Deno version its
 * hello reports, the plugin's load (`ready` or `failed`), a call and its result, log lines. What
 * follows (the next call, a replacement, the end of idle ones) is the pool's to decide.
 *
 * @module
 */
import type { CallContext, FromWorker } from "./sandbox_worker.ts";
import { toError } from "./_sandbox_worker_start.ts";
import { type ChildSpec, SandboxChild } from "./_sandbox_process.ts";
import type { TerminateReason } from "./_sandbox_stats.ts";

/** What a member needs of a call to run it. */
export interface MemberCall {
  id: number;
  params: unknown;
  ctx: CallContext;
  validate: boolean;
}

/** A call's outcome as the child reported it. */
export type CallResult = { ok: true; value: unknown } | {
  ok: false;
  error: Error;
};

/** What a member tells its pool. */
export interface MemberEvents<C> {
  /** It loaded the plugin: ready for a call. */
  ready(): void;
  /** Its call finished (the member no longer holds it). */
  result(call: C, result: CallResult): void;
  /** A line the plugin logged (not yet redacted). */
  log(message: string): void;
}

/** One child process of a pool. */
export class PoolMember<C extends MemberCall> {
  state: "starting" | "idle" | "busy" | "dead" = "starting";
  /** The call it runs now. */
  call?: C;
  /** Ends an extra idle member after `idleMs`. */
  idle?: ReturnType<typeof setTimeout>;
  readonly started = performance.now();
  /** Why the pool ended it (set before the kill). */
  reason?: TerminateReason;
  /** Why it failed to load: what the calls waiting for it are told. */
  failure?: Error;
  readonly child: SandboxChild;

  /** Starts the child (throws if it cannot) and sends it the plugin to load. */
  constructor(
    spec: ChildSpec & { url: string },
    events: MemberEvents<C>,
  ) {
    this.child = new SandboxChild(
      spec,
      (message) => this.#onMessage(message, events),
    );
    this.child.send({ type: "init", url: spec.url, env: spec.env });
  }

  /** Whether it had loaded the plugin (a member that dies loading is not replaced). */
  get loaded(): boolean {
    return this.state === "idle" || this.state === "busy";
  }

  /** Gives it a call; throws at once if the call's params cannot be sent. */
  run(call: C): void {
    this.state = "busy";
    this.call = call;
    if (this.idle !== undefined) clearTimeout(this.idle);
    delete this.idle;
    this.child.send({
      type: "call",
      id: call.id,
      params: call.params,
      ctx: call.ctx,
      validate: call.validate,
    });
  }

  /** SIGKILLs it for `reason`; the first reason stands. */
  end(reason: TerminateReason): void {
    if (this.reason) return;
    this.reason = reason;
    if (this.idle !== undefined) clearTimeout(this.idle);
    this.child.kill();
  }

  #onMessage(
    message: FromWorker | { type: "hello"; deno: string },
    events: MemberEvents<C>,
  ): void {
    if (this.state === "dead") return;
    if (message.type === "hello") {
      if (message.deno !== Deno.version.deno) {
        this.failure = new Error(
          `the sandbox runs Deno ${message.deno}, not this process's ${Deno.version.deno}: start Blitz with --allow-run=${Deno.execPath()}`,
        );
        this.end("load_failed");
      }
    } else if (message.type === "ready") {
      events.ready();
    } else if (message.type === "failed") {
      this.failure = toError(message.error);
      this.end("load_failed");
    } else if (message.type === "result") {
      const call = this.call;
      if (!call || call.id !== message.id) return;
      delete this.call;
      events.result(
        call,
        message.ok
          ? { ok: true, value: message.value }
          : { ok: false, error: toError(message.error) },
      );
    } else if (message.type === "log") {
      events.log(message.message);
    }
  }
}
