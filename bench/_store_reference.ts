/**
 * The reference of the single-alert ingest benchmark: the least a durable ingest on Blitz's own store
 * can do. A bare `Deno.serve` handler reads the body, parses it and inserts it through Blitz's SQLite
 * store (`insertAlertsIdempotent`: the same group commit and WAL fsync, the 202 after it) and nothing
 * else: no authentication, rate limit, backlog, log line or metrics. What Blitz spends above it is
 * the ingest's own work; what it spends below it is the store's. Run by `ingest_bench.ts`:
 * `deno run -A bench/_store_reference.ts <dir>`; prints `listening <port>`.
 *
 * @module
 */
import { serveReference } from "./_reference.ts";
import { openSqliteStore } from "../core/store/sqlite/sqlite.ts";
import { uuidv7 } from "../core/ids.ts";

const dir = Deno.args[0];
if (!dir) throw new Error("usage: _store_reference.ts <data dir>");
const store = openSqliteStore(`${dir}/reference.db`);
const headers = { "content-type": "application/json; charset=utf-8" };
serveReference(async (request) => {
  const text = await request.text();
  const id = uuidv7();
  await store.insertAlertsIdempotent([{
    id,
    detector: "bench",
    alert: JSON.parse(text),
    alert_json: text,
    received_at: new Date().toISOString(),
  }]);
  return new Response(
    `{"accepted":1,"ids":["${id}"],"duplicates":0}`,
    { status: 202, headers },
  );
});
