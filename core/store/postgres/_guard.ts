/**
 * A guard against one known fault of the PostgreSQL client (npm `postgres` 3.4.9 under Deno): when
 * the server closes connections in the middle of writes (a fast shutdown, a failover), a write the
 * client had deferred with `setImmediate` can run after it dropped the socket and throw
 * `TypeError: Cannot read properties of null (reading 'write')` from `connection.js` outside any
 * promise, or, when the socket is still there but already ended by the server, reject an unhandled
 * promise with Deno's `Error: This socket has been ended by the other party` (seen on a clean CI run
 * of the outage test); either would end the process. The query it belonged to has already failed with
 * CONNECTION_CLOSED (and been answered 503 or retried), so the guard swallows exactly that error,
 * from that file, and logs nothing else away: every other uncaught error still ends the process.
 *
 * @module
 */

let installed = false;

/** Installs the guard once per process. */
export function guardClientFaults(): void {
  if (installed) return;
  installed = true;
  globalThis.addEventListener("error", (event) => {
    if (isDeferredWriteFault(event.error)) event.preventDefault();
  });
  globalThis.addEventListener("unhandledrejection", (event) => {
    if (isDeferredWriteFault(event.reason)) event.preventDefault();
  });
}

/** The two forms of the fault: the socket already dropped, or ended by the server. */
const FAULTS: readonly [ErrorConstructor | TypeErrorConstructor, string][] = [
  [TypeError, "Cannot read properties of null (reading 'write')"],
  [Error, "This socket has been ended by the other party"],
];

/** The fault the guard swallows (and only it). */
export function isDeferredWriteFault(err: unknown): boolean {
  return err instanceof Error &&
    FAULTS.some(([type, message]) =>
      err.constructor === type && err.message === message
    ) &&
    /\/postgres(@[\d.]+)?\/.*src\/connection\.js/.test(err.stack ?? "");
}
