/**
 * One HTTP thread of the threaded store reference (`_threaded_reference.ts`): a `Deno.serve` on the
 * shared port (SO_REUSEPORT) that reads and parses the alert, inserts it on its own SQLite connection
 * into Blitz's `alerts` table, commits with the other requests of its turn (the write transaction
 * under a lock shared by the threads: SQLite lets one writer in at a time, and its own busy handler
 * sleeps whole milliseconds), fsyncs the WAL and answers 202. With `sharedSync` the threads share
 * the fsyncs: one runs at a time and covers every commit made before it started.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { DatabaseSync } from "node:sqlite";
import { uuidv7 } from "../core/ids.ts";

/** The slots of the shared Int32Array. */
const LOCK = 0, COMMITS = 1, SYNCED = 2, SYNCING = 3;

const { path, port, shared, sharedSync } = await new Promise<
  { path: string; port: number; shared: SharedArrayBuffer; sharedSync: boolean }
>((resolve) => self.onmessage = (event) => resolve(event.data));
const state = new Int32Array(shared);
const db = new DatabaseSync(path);
db.exec(
  "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0",
);
const insert = db.prepare(
  "INSERT INTO alerts (id, detector, received_at, updated_at, status, alert_json) VALUES (?, ?, ?, ?, ?, ?)",
);
const begin = db.prepare("BEGIN IMMEDIATE");
const commit = db.prepare("COMMIT");
const wal = await Deno.open(`${path}-wal`, { read: true, write: true });

function lock(): void {
  while (Atomics.compareExchange(state, LOCK, 0, 1) !== 0) {
    Atomics.wait(state, LOCK, 1, 10);
  }
}

function unlock(): void {
  Atomics.store(state, LOCK, 0);
  Atomics.notify(state, LOCK, 1);
}

/** Resolves once an fsync that started after commit `n` has ended (any thread's). */
async function synced(n: number): Promise<void> {
  while (Atomics.load(state, SYNCED) < n) {
    if (Atomics.compareExchange(state, SYNCING, 0, 1) === 0) {
      const covers = Atomics.load(state, COMMITS);
      await wal.syncData();
      if (Atomics.load(state, SYNCED) < covers) {
        Atomics.store(state, SYNCED, covers);
      }
      Atomics.store(state, SYNCING, 0);
      Atomics.notify(state, SYNCED);
    } else {
      const seen = Atomics.load(state, SYNCED);
      if (seen >= n) return;
      const wait = Atomics.waitAsync(state, SYNCED, seen, 50);
      if (wait.async) await wait.value;
    }
  }
}

let pending: { row: string[]; resolve: () => void }[] = [];
let syncing = false;

/** The group commit: the turn's rows in one transaction, then the fsync; rows meanwhile wait. */
async function flush(): Promise<void> {
  if (syncing || pending.length === 0) return;
  const batch = pending;
  pending = [];
  let n = 0;
  lock();
  try {
    begin.run();
    for (const w of batch) insert.run(...w.row);
    commit.run();
    n = Atomics.add(state, COMMITS, 1) + 1;
  } finally {
    unlock();
  }
  syncing = true;
  if (sharedSync) await synced(n);
  else await wal.syncData();
  syncing = false;
  for (const w of batch) w.resolve();
  flush();
}

const headers = { "content-type": "application/json; charset=utf-8" };
Deno.serve({
  hostname: "127.0.0.1",
  port,
  reusePort: true,
  onListen: () => self.postMessage("listening"),
}, async (request) => {
  const text = await request.text();
  JSON.parse(text);
  const id = uuidv7();
  const now = new Date().toISOString();
  await new Promise<void>((resolve) => {
    pending.push({ row: [id, "bench", now, now, "queued", text], resolve });
    if (pending.length === 1) setImmediate(flush);
  });
  return new Response(`{"accepted":1,"ids":["${id}"],"duplicates":0}`, {
    status: 202,
    headers,
  });
});
