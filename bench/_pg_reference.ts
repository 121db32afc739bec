/**
 * The reference of the PostgreSQL ingest benchmark: the least a durable ingest on PostgreSQL can do,
 * Hono on Deno with one INSERT of the body, committed (autocommit, `synchronous_commit = on`), then a
 * 202, on the same server and the same pool size as Blitz's store. Run by `postgres_bench.ts`:
 * `deno run -A bench/_pg_reference.ts <postgres url>`; prints `listening <port>`.
 *
 * @module
 */
import { serveReference } from "./_reference.ts";
import { Hono } from "hono";
import postgres from "postgres";

const url = Deno.args[0];
if (!url) throw new Error("usage: _pg_reference.ts <postgres url>");
const sql = postgres(url, {
  max: 10,
  onnotice: () => {},
  connection: { synchronous_commit: "on" },
});
await sql.unsafe(
  "CREATE TABLE IF NOT EXISTS reference_alerts (id bigserial PRIMARY KEY, received_at text NOT NULL, body text NOT NULL)",
);
const app = new Hono();
app.post("/ingest", async (c) => {
  const body = await c.req.text();
  await sql`INSERT INTO reference_alerts (received_at, body) VALUES (${
    new Date().toISOString()
  }, ${body})`;
  return c.json({ accepted: 1 }, 202);
});
serveReference(app.fetch);
