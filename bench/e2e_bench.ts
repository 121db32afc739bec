/**
 * End to end, memory and storm (issue 17), on `blitz serve` with the default workers and delivery
 * connections, a cached enrichment and a lean loopback SMTP sink (`_sink.ts`), posted by the lean
 * keep-alive client (`_load.ts`) on 32 connections:
 *
 * - end to end: a 10,000-alert burst, alerts/s from the first POST to the last mail (target ≥ 2,000;
 *   median of `--rounds` bursts), p50/p99 POST-to-mail latency;
 * - CPU per alert by stage: one more burst with `--cpu-prof`, split by `_profile.ts`;
 * - memory: peak RSS of the service during the burst (target < 200 MB);
 * - storm: storm control on (fingerprint `ip_src_addr`), 10,000 alerts over 10 fingerprints at full
 *   speed: alerts/s until all are settled (target ≥ 2,000, as end to end), mails and enrichment calls;
 * - `--soak`: instead of the above, `--soak-minutes` (10) at half the sustained rate: RSS flat ±10%.
 *
 * Run: `deno run -A bench/e2e_bench.ts [--alerts 10000] [--rounds 3] [--soak [--soak-minutes 10]]`;
 * `--e2e-only` runs only the end-to-end bursts, `--profile-only` only the profiled one, `--storm-only` only the
 * storm (`--storm-profile`: profiled, with its split by stage), `--keep-profile` keeps its `.cpuprofile`
 * files, `--workers N` runs Blitz with `workers: N`.
 *
 * @module
 */
import { drained, postMany } from "./_load.ts";
import { type Sink, startSink } from "./_sink.ts";
import { STAGES, stageSplit } from "./_profile.ts";
import {
  cpuSeconds,
  info,
  mainThreadCpuSeconds,
  median,
  numberFlag,
  peakRss,
  quantile,
  rss,
  target,
} from "./_report.ts";
import { BENCH_ALERT, benchProject, TOKEN } from "./_project.ts";
import { type ServeProcess, startServe } from "../tests/_serve.ts";

const ALERTS = numberFlag("alerts", 10_000);
const ROUNDS = numberFlag("rounds", 3);
const CONNECTIONS = 32;
/** `--workers N`: Blitz with `workers: N` instead of the default (8), to see what concurrency buys. */
const WORKERS = Deno.args.includes("--workers")
  ? numberFlag("workers", 8)
  : undefined;
const BODY = JSON.stringify(BENCH_ALERT);
const HEADERS = {
  "Content-Type": "application/json",
  Authorization: `Bearer ${TOKEN}`,
};
const MB = 1048576;

async function metricsText(server: ServeProcess): Promise<string> {
  return await (await fetch(`${server.url}/metrics`)).text();
}

/** The sum of every series of metric `name` (all label sets). */
function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) {
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return sum;
}

/** Alerts each service gets before it is measured (their samples are in a profile too). */
const WARM_UP = 50;

/** A service on a fresh project mailing to `sink`. */
async function service(
  sink: Sink,
  options: { profileDir?: string; storm?: Record<string, unknown> } = {},
) {
  const project = await benchProject({
    smtp: `smtp://127.0.0.1:${sink.port}?ignore_tls=1`,
    ...(WORKERS !== undefined ? { workers: WORKERS } : {}),
  }, options.storm ? { storm: options.storm } : {});
  const server = await startServe({
    config: project.config,
    env: project.env,
    dirs: [project.dir],
    writeDirs: [
      project.dataDir,
      ...(options.profileDir ? [options.profileDir] : []),
    ],
    ...(options.profileDir
      ? { denoFlags: ["--cpu-prof", `--cpu-prof-dir=${options.profileDir}`] }
      : {}),
    // Read as a log shipper takes it in: parsing the ~5 lines per alert here took CPU from the service.
    parseLogs: false,
  });
  // Warm the enrichment cache and the code paths.
  await postMany({
    url: server.url,
    path: "/ingest/bench",
    headers: HEADERS,
    body: BODY,
    total: WARM_UP,
    connections: 4,
    onResponse() {},
  });
  await drained(server.url, 60_000);
  return {
    server,
    async stop() {
      await server.stop();
      await project.cleanup();
    },
  };
}

interface Burst {
  rate: number;
  p50: number;
  p99: number;
  acceptRate: number;
  cpuMsPerAlert: number;
  /** The service's main thread alone: the one that must not saturate. */
  mainCpuMsPerAlert: number;
  peakMb: number;
  mailed: number;
  /** Store commits per alert: durable (fsynced) and bookkeeping (none). */
  commits: { durable: number; bookkeeping: number };
}

/** Posts `ALERTS` alerts and waits until each is mailed. */
async function burst(server: ServeProcess, sink: Sink): Promise<Burst> {
  sink.arrivals.clear();
  const sent = new Map<string, number>();
  const before = await metricsText(server);
  const cpu0 = cpuSeconds(server.child.pid);
  const main0 = mainThreadCpuSeconds(server.child.pid);
  const started = performance.now();
  await postMany({
    url: server.url,
    path: "/ingest/bench",
    headers: HEADERS,
    body: BODY,
    total: ALERTS,
    connections: CONNECTIONS,
    onResponse(status, text, sentAt) {
      if (status !== 202) throw new Error(`Ingest answered ${status}: ${text}`);
      const id = (JSON.parse(text) as { ids: string[] }).ids[0];
      sent.set(`<${id}@blitz.bench.test>`, sentAt);
    },
  });
  const accepted = performance.now();
  const end = Date.now() + 600_000;
  while (sink.arrivals.size < ALERTS && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const cpu = cpuSeconds(server.child.pid) - cpu0;
  const mainCpu = mainThreadCpuSeconds(server.child.pid) - main0;
  const after = await metricsText(server);
  const commits = (name: string) =>
    (metricSum(after, name) - metricSum(before, name)) / ALERTS;
  const latencies: number[] = [];
  let last = started;
  for (const [id, at] of sent) {
    const arrived = sink.arrivals.get(id);
    if (arrived === undefined) continue;
    latencies.push(arrived - at);
    last = Math.max(last, arrived);
  }
  latencies.sort((a, b) => a - b);
  return {
    rate: latencies.length / ((last - started) / 1000),
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    acceptRate: ALERTS / ((accepted - started) / 1000),
    cpuMsPerAlert: (cpu * 1000) / ALERTS,
    mainCpuMsPerAlert: (mainCpu * 1000) / ALERTS,
    peakMb: peakRss(server.child.pid) / MB,
    mailed: latencies.length,
    commits: {
      durable: commits("blitz_store_durable_commits_total"),
      bookkeeping: commits("blitz_store_bookkeeping_commits_total"),
    },
  };
}

async function endToEnd(sink: Sink): Promise<number> {
  const runs: Burst[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const { server, stop } = await service(sink);
    try {
      runs.push(await burst(server, sink));
    } finally {
      await stop();
    }
  }
  const m = (f: (b: Burst) => number) => median(runs.map(f));
  target(
    `end to end, ${ALERTS} alerts: alerts/s from first POST to last mail`,
    m((b) => b.rate),
    { op: "≥", value: 2000 },
    {
      shown: m((b) => b.rate).toFixed(0),
      detail: `(median of ${ROUNDS}: ${
        runs.map((b) => b.rate.toFixed(0)).join(" ")
      })`,
    },
  );
  info(
    "POST-to-mail latency p50 / p99 (medians)",
    `${m((b) => b.p50).toFixed(0)} ms / ${m((b) => b.p99).toFixed(0)} ms`,
  );
  info(
    "all accepted (202) at",
    `${m((b) => b.acceptRate).toFixed(0)} alerts/s`,
  );
  info(
    "service CPU per alert (/proc)",
    `${m((b) => b.cpuMsPerAlert).toFixed(3)} ms`,
  );
  info(
    "of it the main thread (/proc)",
    `${m((b) => b.mainCpuMsPerAlert).toFixed(3)} ms`,
  );
  info(
    "store commits per alert, durable / bookkeeping",
    `${m((b) => b.commits.durable).toFixed(3)} / ${
      m((b) => b.commits.bookkeeping).toFixed(3)
    }`,
  );
  target(
    `memory: peak RSS during a ${ALERTS}-alert burst (MB)`,
    Math.max(...runs.map((b) => b.peakMb)),
    { op: "<", value: 200 },
    { shown: Math.max(...runs.map((b) => b.peakMb)).toFixed(0) },
  );
  return m((b) => b.rate);
}

async function stages(sink: Sink): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "blitz_bench_prof_" });
  try {
    const { server, stop } = await service(sink, { profileDir: dir });
    let b: Burst;
    let total = 0;
    try {
      // The warm-up's samples are in the profile too: report per alert of the whole process life.
      b = await burst(server, sink);
      total = ALERTS + WARM_UP;
    } finally {
      await stop();
    }
    const js = await printSplit(dir, total);
    info(
      "  profiled JS thread / whole process (/proc)",
      `${js.toFixed(3)} ms / ${
        b.cpuMsPerAlert.toFixed(3)
      } ms per alert (profiling slows it: ${b.rate.toFixed(0)} alerts/s)`,
    );
  } finally {
    await dropProfiles(dir);
  }
}

/** Prints the CPU per alert by stage of the profiles in `dir` over `total` alerts; the JS total. */
async function printSplit(dir: string, total: number): Promise<number> {
  const split = await stageSplit(dir);
  const line = STAGES.map((s) => `${s} ${(split.get(s)! / total).toFixed(3)}`)
    .join(", ");
  info("CPU per alert by stage, ms (--cpu-prof, main thread)", "");
  console.log(`    ${line}`);
  return [...split.values()].reduce((a, c) => a + c, 0) / total;
}

/** `--keep-profile`: leave the .cpuprofile files for a closer look (DevTools, or `_profile.ts`). */
async function dropProfiles(dir: string): Promise<void> {
  if (Deno.args.includes("--keep-profile")) info("  profiles kept in", dir);
  else await Deno.remove(dir, { recursive: true });
}

/** The storm target; `profile`: with `--cpu-prof`, its split printed (`--storm-profile`). */
async function storm(sink: Sink, profile = false): Promise<void> {
  if (!profile) return await stormRun(sink);
  const dir = await Deno.makeTempDir({ prefix: "blitz_bench_prof_" });
  try {
    await stormRun(sink, dir);
    await printSplit(dir, ALERTS + WARM_UP); // the warm-up is in the profile too
  } finally {
    await dropProfiles(dir);
  }
}

/** One storm run on a fresh service (`dir`: profiled into it). */
async function stormRun(sink: Sink, dir?: string): Promise<void> {
  const { server, stop } = await service(sink, {
    storm: { fingerprint: ["ip_src_addr"] },
    ...(dir ? { profileDir: dir } : {}),
  });
  try {
    sink.arrivals.clear();
    const before = await metricsText(server);
    const cpu0 = cpuSeconds(server.child.pid);
    const started = performance.now();
    await Promise.all(Array.from({ length: 10 }, (_, i) =>
      postMany({
        url: server.url,
        path: "/ingest/bench",
        headers: HEADERS,
        body: JSON.stringify({
          ...BENCH_ALERT,
          ip_src_addr: `198.51.100.${i}`,
        }),
        total: ALERTS / 10,
        connections: CONNECTIONS / 8,
        onResponse(status, text) {
          if (status !== 202) {
            throw new Error(`Ingest answered ${status}: ${text}`);
          }
        },
      })));
    const accepted = performance.now();
    await drained(server.url, 600_000);
    const settled = performance.now();
    const cpu = cpuSeconds(server.child.pid) - cpu0;
    const after = await metricsText(server);
    const delta = (name: string) =>
      metricSum(after, name) - metricSum(before, name);
    const rate = ALERTS / ((settled - started) / 1000);
    target(
      `storm: ${ALERTS} alerts over 10 fingerprints, alerts/s until all settled`,
      rate,
      { op: "≥", value: 2000 },
      { shown: rate.toFixed(0) },
    );
    info(
      "  accepted at / mails / enrichment calls",
      `${
        (ALERTS / ((accepted - started) / 1000)).toFixed(0)
      } alerts/s / ${sink.arrivals.size} / ${
        delta("blitz_enrichment_results_total")
      } (results, cached ones included)`,
    );
    info(
      "  service CPU per alert (/proc)",
      `${((cpu * 1000) / ALERTS).toFixed(3)} ms`,
    );
    info(
      "  store commits per alert, durable / bookkeeping",
      `${(delta("blitz_store_durable_commits_total") / ALERTS).toFixed(3)} / ${
        (delta("blitz_store_bookkeeping_commits_total") / ALERTS).toFixed(3)
      }`,
    );
  } finally {
    await stop();
  }
}

async function soak(sink: Sink): Promise<void> {
  const minutes = numberFlag("soak-minutes", 10);
  const { server, stop } = await service(sink);
  try {
    const sustained = (await burst(server, sink)).rate;
    const rate = sustained / 2;
    const samples: number[] = [];
    const end = Date.now() + minutes * 60_000;
    let nextSample = Date.now() + 10_000;
    let posted = 0;
    const tick = 100;
    while (Date.now() < end) {
      const t0 = Date.now();
      const n = Math.max(1, Math.round((rate * tick) / 1000));
      await postMany({
        url: server.url,
        path: "/ingest/bench",
        headers: HEADERS,
        body: BODY,
        total: n,
        connections: Math.min(8, n),
        onResponse(status, text) {
          if (status !== 202) {
            throw new Error(`Ingest answered ${status}: ${text}`);
          }
        },
      });
      posted += n;
      if (Date.now() >= nextSample) {
        samples.push(rss(server.child.pid) / MB);
        nextSample += 10_000;
      }
      await new Promise((r) =>
        setTimeout(r, Math.max(0, tick - (Date.now() - t0)))
      );
    }
    // The first minute warms up (caches, the V8 heap growing to its working size): RSS after it is
    // the reference, and every later sample must stay within ±10% of it.
    const ref = median(samples.slice(5, 7));
    const later = samples.slice(6);
    const worst = Math.max(...later.map((s) => Math.abs(s / ref - 1)));
    target(
      `soak: RSS over ${minutes} min at ${rate.toFixed(0)} alerts/s (half of ${
        sustained.toFixed(0)
      }), worst drift from minute 1`,
      // In percent on both sides (it printed "3.0%" against "≤ 0.1", a fraction).
      worst * 100,
      { op: "≤", value: 10, unit: "%" },
      {
        shown: `${(worst * 100).toFixed(1)}%`,
        detail: `(${posted} alerts; RSS ${Math.min(...later).toFixed(0)}–${
          Math.max(...later).toFixed(0)
        } MB, reference ${ref.toFixed(0)} MB)`,
      },
    );
  } finally {
    await stop();
  }
}

async function main(): Promise<void> {
  const sink = await startSink();
  try {
    if (Deno.args.includes("--soak")) return await soak(sink);
    if (Deno.args.includes("--profile-only")) return await stages(sink);
    if (Deno.args.includes("--e2e-only")) return void await endToEnd(sink);
    if (Deno.args.includes("--storm-only")) return await storm(sink);
    if (Deno.args.includes("--storm-profile")) return await storm(sink, true);
    await endToEnd(sink);
    await stages(sink);
    await storm(sink);
  } finally {
    await sink.close();
  }
}

if (import.meta.main) await main();
