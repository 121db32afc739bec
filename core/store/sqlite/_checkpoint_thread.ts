/**
 * The thread that copies the WAL into the database file for the store's checkpoints
 * (`_checkpoint.ts`), so that the copy (~30 µs of CPU per alert under a burst) runs beside the event
 * loop instead of on it. One message per checkpoint, the database path; the answer is `{ ok: true }`
 * or `{ ok: false, error }`. Its connection lasts one checkpoint (opening is cheap next to a copy made
 * at most about once a second), so none is left open when the store closes its own (which, the last,
 * checkpoints and removes the WAL). It never syncs: the checkpoint's fsyncs are the store's.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { DatabaseSync } from "node:sqlite";

/** The store's busy_timeout (see `_checkpoint.ts`). */
const BUSY_TIMEOUT_MS = 5_000;

self.onmessage = (event: MessageEvent<{ path: string }>) => {
  let connection: DatabaseSync | undefined;
  try {
    connection = new DatabaseSync(event.data.path);
    connection.exec(
      `PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}; PRAGMA synchronous = OFF`,
    );
    connection.prepare("PRAGMA wal_checkpoint(PASSIVE)").get();
    connection.close();
    self.postMessage({ ok: true });
  } catch (err) {
    if (connection?.isOpen) connection.close();
    self.postMessage({ ok: false, error: String(err) });
  }
};
