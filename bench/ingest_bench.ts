/**
 * Ingest benchmarks, one run, printed as ratios and numbers (no assertions; targets from issue 3):
 *
 * 1. HTTP ingest throughput (202 after the alert is durably stored) of `blitz serve`, as a ratio to a bare
 *    Hono-on-Deno handler that only parses the JSON, both driven by the same load generator (wrk from
 *    /usr/bin/wrk when installed, else an in-Deno keep-alive client). Target >= 25%.
 * 2. End to end: 10,000 alerts posted one per request (32 at a time), each with a cached enrichment, mailed
 *    to a loopback SMTP sink: alerts/s from first POST to last mail, and p50/p99 POST-to-mail latency.
 *    Target >= 2,000/s on 2 cores.
 * 3. Peak RSS of the service during that 10,000-alert burst (VmHWM of the process). Target < 200 MB.
 *
 * The end-to-end burst is posted with the lean keep-alive client of bench/_load.ts (not `fetch`), to keep
 * the load generator's CPU off the cores the service runs on.
 *
 * Run: `deno run -A bench/ingest_bench.ts [--seconds 5] [--alerts 10000]`. The services run as child
 * processes with the serve task's permission flags (see tests/_serve.ts).
 *
 * @module
 */
import { postMany } from "./_load.ts";
import { startSink } from "./_sink.ts";
import { writeProject } from "../tests/_config.ts";
import { ROOT, type ServeProcess, startServe } from "../tests/_serve.ts";

const TOKEN = `bench-token-${crypto.randomUUID()}`;
const args = Deno.args;
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : fallback;
};
const SECONDS = flag("seconds", 5);
const ALERTS = flag("alerts", 10_000);
const CONNECTIONS = 32;
const ALERT = JSON.stringify({
  ip_src_addr: "192.0.2.10",
  param2: "SSH brute force",
  param3: "IDS: 312 failed SSH logins from 192.0.2.10 in 5 minutes",
  severity: "high",
  ip_dst_addr: "10.20.30.40",
  dst_port: 22,
  event_count: 312,
  sensor: "ids-dmz-01",
});

/** Peak resident memory (VmHWM) of a process, in bytes. */
function peakRss(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number | "self"): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]!
    .split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function hasWrk(): Promise<boolean> {
  try {
    return (await Deno.stat("/usr/bin/wrk")).isFile;
  } catch {
    return false;
  }
}

/** Requests/s of POSTs of one alert to `url` for `seconds`, and how many were not 2xx. */
async function load(
  url: string,
  seconds: number,
): Promise<{ rps: number; errors: number; tool: string }> {
  if (await hasWrk()) {
    const script = await Deno.makeTempFile({ suffix: ".lua" });
    await Deno.writeTextFile(
      script,
      `wrk.method = "POST"
wrk.body = ${JSON.stringify(ALERT)}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer ${TOKEN}"
`,
    );
    const out = await new Deno.Command("/usr/bin/wrk", {
      args: ["-t1", `-c${CONNECTIONS}`, `-d${seconds}s`, "-s", script, url],
      stdout: "piped",
      stderr: "piped",
    }).output();
    await Deno.remove(script);
    const text = new TextDecoder().decode(out.stdout);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
    const errors = Number(
      /Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0,
    );
    return { rps, errors, tool: `wrk -t1 -c${CONNECTIONS}` };
  }
  let done = 0;
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
    while (performance.now() < end) {
      const res = await fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${TOKEN}`,
        },
        body: ALERT,
      });
      await res.body?.cancel();
      if (res.ok) done++;
      else errors++;
    }
  }));
  return {
    rps: done / seconds,
    errors,
    tool: `in-Deno fetch, ${CONNECTIONS} connections`,
  };
}

const BARE_PARSE = `import { Hono } from "hono";
const app = new Hono();
app.post("/ingest/:detector", async (c) => c.json({ accepted: 1, n: Object.keys(await c.req.json()).length }, 202));
Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: ({ port }) => console.log("port " + port) }, app.fetch);
`;

/**
 * The least a durable 202 can cost here: parse, insert into SQLite (WAL, group commit per turn), and
 * answer once an fsync of the WAL (off the event loop) covers the commit. No auth, limits, ids, logs,
 * metrics or processing: a reference for how much of the gap to the bare handler is the disk's.
 */
const BARE_DURABLE = `import { Hono } from "hono";
import { DatabaseSync } from "node:sqlite";
import { setImmediate } from "node:timers";
const dir = Deno.args[0];
const db = new DatabaseSync(dir + "/ref.db");
db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; CREATE TABLE alerts (id TEXT PRIMARY KEY, body TEXT NOT NULL)");
const insert = db.prepare("INSERT INTO alerts (id, body) VALUES (?, ?)");
const wal = Deno.openSync(dir + "/ref.db-wal", { read: true });
let pending = [], committed = [], syncing = false;
function flush() {
  const batch = pending; pending = [];
  db.exec("BEGIN"); for (const w of batch) insert.run(w.id, w.body); db.exec("COMMIT");
  committed.push(...batch); sync();
}
async function sync() {
  if (syncing) return; syncing = true;
  while (committed.length) { const done = committed; committed = []; await wal.syncData(); for (const w of done) w.resolve(); }
  syncing = false;
}
const app = new Hono();
app.post("/ingest/:detector", async (c) => {
  const body = JSON.stringify(await c.req.json());
  const id = crypto.randomUUID();
  await new Promise((resolve) => { pending.push({ id, body, resolve }); if (pending.length === 1) setImmediate(flush); });
  return c.json({ accepted: 1, ids: [id] }, 202);
});
Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: ({ port }) => console.log("port " + port) }, app.fetch);
`;

/**
 * A child process serving a reference Hono app: "parse" only parses the JSON and answers 202 (the
 * issue's baseline); "durable" also stores it with an fsync first (see BARE_DURABLE).
 */
async function startBare(kind: "parse" | "durable"): Promise<
  { url: string; child: Deno.ChildProcess; stop(): Promise<void> }
> {
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  const dir = await Deno.makeTempDir({ prefix: "blitz_bench_ref_" });
  await Deno.writeTextFile(file, kind === "parse" ? BARE_PARSE : BARE_DURABLE);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--config",
      `${ROOT}/deno.json`,
      "--allow-net=127.0.0.1",
      `--allow-read=${dir}`,
      `--allow-write=${dir}`,
      file,
      dir,
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/port \d+\n/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error("The bare server exited");
    text += value;
  }
  const port = /port (\d+)/.exec(text)![1];
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await reader.cancel().catch(() => {});
      await Deno.remove(file);
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A project with one detector whose enrichment is a local plugin (cached after the first call). */
async function project(smtpPort: number) {
  return await writeProject({
    global: {
      listen: "127.0.0.1:0",
      public_url: "https://blitz.bench.test",
      ingest_tokens: ["${env:BLITZ_INGEST_TOKEN}"],
      smtp: `smtp://127.0.0.1:${smtpPort}?ignore_tls=1`,
      plugin_dirs: ["plugins"],
      rate_limit: "1000000/s burst 1000000",
      max_backlog: 1_000_000,
      enrichment_ttl: "1h",
      // workers and delivery.connections: the defaults (8 and 8), as an operator runs it
    },
    detectors: {
      bench: {
        subject: "Bench {ip_src_addr} {param2}",
        mail_title: "{param3}",
        include_json: true,
        enrichments: [{
          e_name: "Asset owner",
          e_func: "bench_owner",
          e_key: "ip_src_addr",
        }],
      },
    },
    files: {
      "plugins/bench_owner.ts": `export default {
  name: "bench_owner",
  positional: ["ip"],
  run: ({ ip }) => ({ ip, owner: "SOC team", site: "dmz", tags: ["server", "linux"] }),
};
`,
    },
  });
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ??
    NaN;
}

async function waitDrained(
  server: ServeProcess,
  timeoutMs: number,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const health = await (await fetch(`${server.url}/healthz`)).json();
    if (health.backlog === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("The backlog did not drain");
}

async function main(): Promise<void> {
  const sink = await startSink();
  const line = (label: string, value: string) =>
    console.log(`${label.padEnd(46)} ${value}`);
  console.log(
    `Blitz ingest benchmark (${navigator.hardwareConcurrency} CPUs, Deno ${Deno.version.deno})\n`,
  );

  // 1. Ingest throughput vs a bare handler.
  const p1 = await project(sink.port);
  const env = { ...p1.env, BLITZ_INGEST_TOKEN: TOKEN };
  try {
    const bare = await startBare("parse");
    await load(`${bare.url}/ingest/bench`, 1); // warm up
    const baseline = await load(`${bare.url}/ingest/bench`, SECONDS);
    await bare.stop();
    const ref = await startBare("durable");
    await load(`${ref.url}/ingest/bench`, 1);
    const reference = await load(`${ref.url}/ingest/bench`, SECONDS);
    await ref.stop();
    const server = await startServe({
      config: p1.config,
      env,
      dirs: [p1.dir],
      writeDirs: [p1.dataDir],
    });
    try {
      await load(`${server.url}/ingest/bench`, 1);
      const ingest = await load(`${server.url}/ingest/bench`, SECONDS);
      const stored = (await (await fetch(`${server.url}/metrics`)).text())
        .match(/blitz_alerts_ingested_total\{detector="bench"\} (\d+)/)?.[1];
      line("load generator", baseline.tool);
      line("bare Hono JSON handler", `${baseline.rps.toFixed(0)} req/s`);
      line(
        "reference: parse + SQLite insert + fsync only",
        `${reference.rps.toFixed(0)} req/s (${
          ((reference.rps / baseline.rps) * 100).toFixed(1)
        }% of bare: the durability floor here)`,
      );
      line(
        "blitz serve, durable 202",
        `${
          ingest.rps.toFixed(0)
        } req/s (non-2xx: ${ingest.errors}, stored: ${stored})`,
      );
      line(
        "ratio (target >= 25%)",
        `${((ingest.rps / baseline.rps) * 100).toFixed(1)}%`,
      );
      await waitDrained(server, 600_000);
    } finally {
      await server.stop();
    }
  } finally {
    await p1.cleanup();
  }

  // 2 and 3. End to end with a 10,000-alert burst.
  sink.arrivals.clear();
  const p2 = await project(sink.port);
  try {
    const server = await startServe({
      config: p2.config,
      env: { ...p2.env, BLITZ_INGEST_TOKEN: TOKEN },
      dirs: [p2.dir],
      writeDirs: [p2.dataDir],
    });
    try {
      // Warm the enrichment cache and the code paths with a few alerts first.
      for (let i = 0; i < 20; i++) {
        await (await fetch(`${server.url}/ingest/bench`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            authorization: `Bearer ${TOKEN}`,
          },
          body: ALERT,
        })).body?.cancel();
      }
      await waitDrained(server, 60_000);
      const warm = sink.arrivals.size;
      const rssBefore = peakRss(server.child.pid);
      const sent = new Map<string, number>();
      const peaks = { heap: 0, external: 0, backlog: 0 };
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const text = await (await fetch(`${server.url}/metrics`)).text();
          const value = (name: string) =>
            Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? 0);
          peaks.heap = Math.max(peaks.heap, value("process_heap_bytes"));
          peaks.external = Math.max(
            peaks.external,
            value("process_external_memory_bytes"),
          );
          peaks.backlog = Math.max(peaks.backlog, value("blitz_backlog"));
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      })();
      const cpuBefore = {
        service: cpuSeconds(server.child.pid),
        bench: cpuSeconds("self"),
      };
      const started = performance.now();
      await postMany({
        url: server.url,
        path: "/ingest/bench",
        headers: {
          "Content-Type": "application/json",
          Authorization: `Bearer ${TOKEN}`,
        },
        body: ALERT,
        total: ALERTS,
        connections: CONNECTIONS,
        onResponse(status, text, sentAt) {
          if (status !== 202) {
            throw new Error(`Ingest answered ${status}: ${text}`);
          }
          const body = JSON.parse(text) as { ids: string[] };
          sent.set(`<${body.ids[0]}@blitz.bench.test>`, sentAt);
        },
      });
      const accepted = performance.now();
      const end = Date.now() + 600_000;
      while (sink.arrivals.size < warm + ALERTS && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const cpu = {
        service: cpuSeconds(server.child.pid) - cpuBefore.service,
        bench: cpuSeconds("self") - cpuBefore.bench,
      };
      sampling = false;
      await sampler;
      const latencies: number[] = [];
      let last = 0;
      for (const [id, at] of sent) {
        const arrived = sink.arrivals.get(id);
        if (arrived === undefined) continue;
        latencies.push(arrived - at);
        last = Math.max(last, arrived);
      }
      latencies.sort((a, b) => a - b);
      const seconds = (last - started) / 1000;
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      const hits = Number(
        /blitz_enrichment_cache_hits_total\{[^}]*\} (\d+)/.exec(metrics)?.[1] ??
          0,
      );
      console.log("");
      line(
        `end to end, ${ALERTS} alerts, ${CONNECTIONS} at a time`,
        `${(latencies.length / seconds).toFixed(0)} alerts/s (target >= 2000)`,
      );
      line(
        "  all accepted (202) after",
        `${((accepted - started) / 1000).toFixed(2)} s (${
          (ALERTS / ((accepted - started) / 1000)).toFixed(0)
        } alerts/s)`,
      );
      line(
        "  all mailed after",
        `${seconds.toFixed(2)} s (${latencies.length} of ${ALERTS} mailed)`,
      );
      line(
        "  POST-to-mail latency p50 / p99",
        `${quantile(latencies, 0.5).toFixed(0)} ms / ${
          quantile(latencies, 0.99).toFixed(0)
        } ms`,
      );
      line("  enrichment cache hits", String(hits));
      const commits = (kind: string) =>
        Number(
          new RegExp(`^blitz_store_${kind}_commits_total (\\d+)$`, "m").exec(
            metrics,
          )?.[1] ?? NaN,
        );
      line(
        "  store commits per alert: fsynced / not",
        `${(commits("durable") / ALERTS).toFixed(2)} / ${
          (commits("bookkeeping") / ALERTS).toFixed(2)
        }`,
      );
      line(
        "  CPU per alert: service / this process",
        `${(cpu.service * 1000 / ALERTS).toFixed(2)} ms / ${
          (cpu.bench * 1000 / ALERTS).toFixed(2)
        } ms (this process: the load and the SMTP sink, on the same cores)`,
      );
      line(
        "peak RSS during the burst (target < 200 MB)",
        `${(peakRss(server.child.pid) / 1048576).toFixed(0)} MB (before: ${
          (rssBefore / 1048576).toFixed(0)
        } MB)`,
      );
      line(
        "  peak V8 heap / external / backlog",
        `${(peaks.heap / 1048576).toFixed(0)} MB / ${
          (peaks.external / 1048576).toFixed(0)
        } MB / ${peaks.backlog} alerts`,
      );
    } finally {
      await server.stop();
    }
  } finally {
    await p2.cleanup();
    await sink.close();
  }
}

if (import.meta.main) await main();
