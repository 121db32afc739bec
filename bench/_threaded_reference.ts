/**
 * The threaded store reference (`threads_bench.ts`): `<threads>` HTTP threads
 * (`_threaded_reference_thread.ts`), each of which makes its own requests durable on its own SQLite
 * connection to one database with Blitz's schema, and the WAL checkpointed once a second off those
 * threads (here, as Blitz's checkpoint thread does). The ceiling of a durable ingest spread over
 * threads, with no authentication, limits, log line or metrics. `shared`: the threads share their
 * fsyncs; `apart`: each thread has a database of its own (the per-thread journal a threaded ingest
 * would write, with nothing shared but the disk). `deno run -A bench/_threaded_reference.ts <dir>
 * <threads> [shared|apart]`; prints `listening <port>`.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { openSqliteStore } from "../core/store/sqlite/sqlite.ts";

const [dir, threadsArg, mode] = Deno.args;
const threads = Number(threadsArg);
if (!dir || !Number.isInteger(threads) || threads < 1) {
  throw new Error(
    "usage: _threaded_reference.ts <dir> <threads> [shared|apart]",
  );
}
const apart = mode === "apart";
const paths = Array.from(
  { length: apart ? threads : 1 },
  (_, i) => `${dir}/threaded-${i}.db`,
);
const checkpoints: DatabaseSync[] = [];
for (const path of paths) {
  const store = openSqliteStore(path); // Blitz's schema, in WAL mode
  await store.insertAlerts([{ id: "first", detector: "bench", alert: {} }]);
  await store.close();
  const connection = new DatabaseSync(path);
  connection.exec("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000");
  checkpoints.push(connection);
}
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const port = listener.addr.port;
listener.close();
let listening = 0;
const shared = new SharedArrayBuffer(16);
for (let i = 0; i < threads; i++) {
  const worker = new Worker(
    new URL("./_threaded_reference_thread.ts", import.meta.url).href,
    { type: "module" },
  );
  worker.onmessage = () => {
    if (++listening === threads) console.log(`listening ${port}`);
  };
  worker.postMessage({
    path: paths[apart ? i : 0],
    port,
    shared: apart ? new SharedArrayBuffer(16) : shared,
    sharedSync: mode === "shared",
  });
}
setInterval(() => {
  for (const c of checkpoints) {
    c.prepare("PRAGMA wal_checkpoint(PASSIVE)").get();
  }
}, 1_000);
