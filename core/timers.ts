/**
 * The two timers a cold CLI ingest needs, without Deno's `node:timers`. Deno 2.9 implements the global
 * `setTimeout`, `setInterval` and `setImmediate` with node:timers, whose first use loads Node's errors,
 * inspect, validators and async hooks (~6 ms of CPU, issue 17): one `ingest` per alert paid it for one
 * plugin deadline and one group commit. After {@link useLightTimers} (a one-shot command, which ends
 * with `Deno.exit`), `afterIo` goes through a MessageChannel and `after` through `AbortSignal.timeout`
 * (which keeps the process alive until it fires, as a timer would, even once cancelled). Otherwise
 * (serve, tests) they are setImmediate and setTimeout: a MessageChannel costs several times more.
 *
 * @module
 */

let light = false;

/** Switches this process to the light timers (see the module doc): only for a command that exits. */
export function useLightTimers(): void {
  light = true;
}

/** Runs `fn` once pending I/O has run, as `setImmediate` does. */
export function afterIo(fn: () => void): void {
  if (!light) {
    setImmediate(fn);
    return;
  }
  const { port1, port2 } = new MessageChannel();
  port1.onmessage = () => {
    port1.close();
    port2.close();
    fn();
  };
  port2.postMessage(null);
}

/** Calls `fn` after `ms` milliseconds unless the returned function is called first. */
export function after(ms: number, fn: () => void): () => void {
  if (!light) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  }
  let pending = true;
  AbortSignal.timeout(ms).addEventListener("abort", () => {
    if (pending) fn();
  }, { once: true });
  return () => {
    pending = false;
  };
}
