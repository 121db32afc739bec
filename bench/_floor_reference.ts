/**
 * The floors under the single-alert ingest target (`threads_bench.ts`): what a bare `Deno.serve`
 * handler reaches when it does the least a durable 202 can, with none of SQLite's work. Two modes:
 *
 * - `bare`: reads the body, parses it and answers 202. Nothing is durable: Deno's HTTP server and the
 *   parse, the ceiling of any handler on this runtime.
 * - `journal`: also appends the alert (id, time, body) as a line to a journal file. The lines of the
 *   requests issued while the event loop was busy go in one write, then one `fdatasync`; each 202
 *   follows it. While an fsync runs, new lines wait and share the next one, as Blitz's group commit
 *   does. It is the cheapest durable 202: no index, no page, no checkpoint, and no way to find an
 *   alert again short of reading the whole file.
 *
 * `deno run -A bench/_floor_reference.ts <dir> bare|journal`; prints `listening <port>`.
 *
 * @module
 */
import { serveReference } from "./_reference.ts";
import { afterIo } from "../core/timers.ts";

const [dir, mode] = Deno.args;
if (!dir || (mode !== "bare" && mode !== "journal")) {
  throw new Error("usage: _floor_reference.ts <dir> bare|journal");
}
const headers = { "content-type": "application/json; charset=utf-8" };
const journal = mode === "journal"
  ? Deno.openSync(`${dir}/journal.ndjson`, {
    write: true,
    create: true,
    append: true,
  })
  : null;
const encoder = new TextEncoder();
let waiting: { line: string; resolve: () => void }[] = [];
let syncing = false;
let flushQueued = false;

/** Writes the lines waiting in one write, fsyncs them, resolves them; the next group follows. */
async function flush(file: Deno.FsFile): Promise<void> {
  flushQueued = false;
  if (syncing || waiting.length === 0) return;
  const group = waiting;
  waiting = [];
  syncing = true;
  const bytes = encoder.encode(group.map((w) => w.line).join(""));
  for (let at = 0; at < bytes.length;) {
    at += file.writeSync(bytes.subarray(at));
  }
  await file.syncData();
  syncing = false;
  for (const w of group) w.resolve();
  if (waiting.length > 0) void flush(file);
}

let sequence = 0;
serveReference(async (request) => {
  const text = await request.text();
  JSON.parse(text);
  const id = `${Date.now().toString(16)}-${(sequence++).toString(16)}`;
  if (journal) {
    await new Promise<void>((resolve) => {
      waiting.push({
        line: `${id}\t${new Date().toISOString()}\t${text}\n`,
        resolve,
      });
      if (!flushQueued) {
        flushQueued = true;
        afterIo(() => void flush(journal)); // as the group commit waits
      }
    });
  }
  return new Response(
    `{"accepted":1,"ids":["${id}"],"duplicates":0}`,
    { status: 202, headers },
  );
});
