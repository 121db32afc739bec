/**
 * A guard against one known fault of the PostgreSQL client (npm `postgres` 3.4.9 under Deno): when
 * the server closes connections in the middle of writes (a fast shutdown, a failover), a write the
 * client had deferred with `setImmediate` can run after it dropped the socket and throw
 * `TypeError: Cannot read properties of null (reading 'write')` from `connection.js` outside any
 * promise, which would end the process. The query it belonged to has already failed with
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
}

/** The fault the guard swallows (and only it). */
export function isDeferredWriteFault(err: unknown): boolean {
  return err instanceof TypeError &&
    err.message === "Cannot read properties of null (reading 'write')" &&
    /\/postgres(@[\d.]+)?\/.*src\/connection\.js/.test(err.stack ?? "");
}
