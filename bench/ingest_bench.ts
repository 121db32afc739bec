/**
 * Ingest alone (issue 17): `blitz serve` with processing paused (`workers: 0`, so every 202 is the
 * durable ingest and nothing else runs) against Prometheus Alertmanager's `POST /api/v2/alerts` of the
 * same alert (in memory, nothing durable per request), both driven by wrk with the same connections.
 * Two targets, each the median of interleaved rounds (the order alternates; Blitz starts on a fresh
 * store each round):
 *
 * - one alert per request: Blitz req/s ÷ Alertmanager req/s ≥ 1.0;
 * - batches of 100: Blitz NDJSON bodies of 100 lines ÷ Alertmanager JSON arrays of 100 ≥ 1.0.
 *
 * Each single-alert round also measures the store reference (`_store_reference.ts`: a bare handler
 * that parses and inserts through Blitz's SQLite store, group commit and fsync included, nothing
 * else), printed with its ratios: what the store alone allows, against what Blitz's ingest adds.
 * Every measurement also reads its server's CPU (`/proc`), printed per request with the cores it kept
 * busy: the same CPU per request spread over more cores is more req/s on the same machine.
 *
 * Skipped with a clear line when wrk or Alertmanager is absent.
 * Blitz's stderr (a log line per alert) is read but not parsed, as a log shipper would take it.
 * Run: `deno run -A bench/ingest_bench.ts [--rounds 5] [--seconds 3] [--threads 0]`; `--profile [--batch]
 * [--keep-profile]` profiles one paused Blitz instead (CPU per request, split by stage).
 *
 * @module
 */
import {
  alertmanagerAlert,
  hasAlertmanager,
  startAlertmanager,
} from "./_alertmanager.ts";
import { hasWrk, wrk } from "./_wrk.ts";
import {
  cpuSeconds,
  info,
  median,
  numberFlag,
  skipped,
  target,
} from "./_report.ts";
import { STAGES, stageSplit } from "./_profile.ts";
import { BENCH_ALERT, benchProject, TOKEN } from "./_project.ts";
import { startServe } from "../tests/_serve.ts";
import { type Reference, startReference } from "./_reference.ts";

const ROUNDS = numberFlag("rounds", 5);
const SECONDS = numberFlag("seconds", 3);
const CONNECTIONS = 32;
const BATCH = 100;
/** `--threads N`: Blitz with `http_threads: N` (see docs/operations.md). */
const THREADS = numberFlag("threads", 0);

interface Side {
  url: string;
  body: string;
  headers: Record<string, string>;
}

/** What one measurement gives: requests per second, and the server's CPU per request. */
interface Measured {
  rps: number;
  errors: number;
  /** CPU (user + system, `/proc`) of the server's process per request, µs. */
  cpuUs: number;
  /** That process's CPU over the measurement's wall time: how many cores it kept busy. */
  cores: number;
}

/** One wrk measurement of `side`, after a one-second warm-up; `pid` is the server's process. */
async function measure(side: Side, pid: number): Promise<Measured> {
  const run = (seconds: number) =>
    wrk({ ...side, connections: CONNECTIONS, seconds });
  await run(1);
  const before = cpuSeconds(pid);
  const started = performance.now();
  const r = await run(SECONDS);
  const cpu = cpuSeconds(pid) - before;
  const wall = (performance.now() - started) / 1000;
  return {
    rps: r.rps,
    errors: r.errors + r.socketErrors,
    cpuUs: cpu * 1e6 / (r.rps * SECONDS),
    cores: cpu / wall,
  };
}

/** Blitz with processing paused, on a fresh store; stopped by the returned function. */
async function pausedBlitz(
  profileDir?: string,
): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const project = await benchProject({
    workers: 0,
    max_backlog: 100_000_000,
    http_threads: THREADS,
  });
  const server = await startServe({
    config: project.config,
    env: project.env,
    dirs: [project.dir],
    writeDirs: [project.dataDir, ...(profileDir ? [profileDir] : [])],
    ...(profileDir
      ? { denoFlags: ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] }
      : {}),
    // Parsing every log line here would take CPU from the service on the same cores.
    parseLogs: false,
  });
  return {
    url: server.url,
    pid: server.child.pid,
    async stop() {
      await server.stop();
      await project.cleanup();
    },
  };
}

/** The store reference (`_store_reference.ts`) on a fresh store in a temporary folder. */
async function storeReference(): Promise<Reference> {
  const dir = await Deno.makeTempDir({ prefix: "blitz_store_reference_" });
  const removeDir = () => Deno.remove(dir, { recursive: true });
  const reference = await startReference("./_store_reference.ts", [dir])
    .catch(async (err) => {
      await removeDir();
      throw err;
    });
  return {
    url: reference.url,
    pid: reference.pid,
    async stop() {
      await reference.stop();
      await removeDir();
    },
  };
}

async function compare(
  name: string,
  blitzSide: (url: string) => Side,
  amSide: (url: string) => Side,
  unit: number,
  /** Also measure the store reference in each round, with this request. */
  referenceSide?: (url: string) => Side,
): Promise<void> {
  const am = await startAlertmanager();
  const ratios: number[] = [];
  const runs: Record<"blitz" | "am" | "reference", Measured[]> = {
    blitz: [],
    am: [],
    reference: [],
  };
  let errors = 0;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const blitzFirst = round % 2 === 1;
      let b: Measured | undefined;
      let a: Measured | undefined;
      for (const which of blitzFirst ? ["blitz", "am"] : ["am", "blitz"]) {
        if (which === "am") a = await measure(amSide(am.url), am.pid);
        else {
          const blitz = await pausedBlitz();
          try {
            b = await measure(blitzSide(blitz.url), blitz.pid);
          } finally {
            await blitz.stop();
          }
        }
      }
      if (referenceSide) {
        const reference = await storeReference();
        try {
          const r = await measure(
            referenceSide(reference.url),
            reference.pid,
          );
          errors += r.errors;
          runs.reference.push(r);
        } finally {
          await reference.stop();
        }
      }
      errors += a!.errors + b!.errors;
      ratios.push(b!.rps / a!.rps);
      runs.blitz.push(b!);
      runs.am.push(a!);
    }
  } finally {
    await am.stop();
  }
  const rps = (side: Measured[]) => median(side.map((m) => m.rps));
  const perReq = unit === 1 ? "req/s" : `req/s × ${unit} alerts`;
  target(name, median(ratios), { op: "≥", value: 1.0 }, {
    detail: `(median of ${ROUNDS} rounds: Blitz ${
      rps(runs.blitz).toFixed(0)
    } ${perReq}, Alertmanager ${rps(runs.am).toFixed(0)} ${perReq})`,
  });
  info(
    "ratios per round",
    ratios.map((r) => r.toFixed(2)).join(" ") +
      (errors ? `  (non-2xx or socket errors: ${errors})` : ""),
  );
  if (runs.reference.length > 0) {
    // The same rounds: a bare handler on Blitz's store, nothing but parse, insert, group commit, fsync.
    const reference = rps(runs.reference);
    info(
      "store reference (bare handler + Blitz's store)",
      `${reference.toFixed(0)} ${perReq}: ÷ Alertmanager ${
        (reference / rps(runs.am)).toFixed(2)
      }, Blitz ÷ it ${(rps(runs.blitz) / reference).toFixed(2)}`,
    );
  }
  // How each side spends the two cores: the same CPU per request spread over more cores is more req/s.
  const cpu = (label: string, side: Measured[]) =>
    `${label} ${median(side.map((m) => m.cpuUs)).toFixed(0)} µs on ${
      median(side.map((m) => m.cores)).toFixed(2)
    } cores`;
  info(
    `server CPU per request (/proc), cores busy`,
    [
      cpu("Blitz", runs.blitz),
      cpu("Alertmanager", runs.am),
      ...(runs.reference.length
        ? [cpu("store reference", runs.reference)]
        : []),
    ].join(", "),
  );
}

/**
 * `--profile [--batch]`: one paused Blitz under wrk for SECONDS with `--cpu-prof`; prints the whole
 * process's CPU per request (`/proc`) and the main thread's split by stage (`_profile.ts`; the
 * warm-up's samples included, so the split runs a little high).
 */
async function profile(side: (url: string) => Side, unit: number) {
  const dir = await Deno.makeTempDir({ prefix: "blitz_ingest_prof_" });
  try {
    const blitz = await pausedBlitz(dir);
    let m: Measured;
    try {
      m = await measure(side(blitz.url), blitz.pid);
      info("req/s (profiled)", m.rps.toFixed(0));
    } finally {
      await blitz.stop();
    }
    const requests = m.rps * SECONDS;
    const per = unit === 1 ? "request" : `request of ${unit} alerts`;
    info(`process CPU per ${per}`, `${m.cpuUs.toFixed(1)} µs`);
    const split = await stageSplit(dir);
    info(
      `main thread per ${per}, µs`,
      STAGES.map((s) => `${s} ${(split.get(s)! * 1000 / requests).toFixed(1)}`)
        .join(", "),
    );
  } finally {
    // `--keep-profile`: leave the .cpuprofile files for a closer look (DevTools, or `_profile.ts`).
    if (Deno.args.includes("--keep-profile")) info("profiles kept in", dir);
    else await Deno.remove(dir, { recursive: true });
  }
}

async function main(): Promise<void> {
  const single = "ingest alone, 1 alert per request: Blitz ÷ Alertmanager";
  const batch =
    `ingest alone, batches of ${BATCH}: Blitz NDJSON ÷ Alertmanager arrays`;
  const missing = !(await hasWrk())
    ? "wrk is not installed: apt-get install wrk"
    : !(await hasAlertmanager())
    ? "Alertmanager is not installed: apt-get install prometheus-alertmanager"
    : undefined;
  if (missing) {
    skipped(single, missing);
    skipped(batch, missing);
    return;
  }
  const { version } = await startAlertmanager().then(async (am) => {
    await am.stop();
    return am;
  });
  info(
    "setup",
    `wrk -t1 -c${CONNECTIONS}, Blitz serve with workers: 0 (processing paused), http_threads: ${THREADS}, Alertmanager ${version}`,
  );
  const auth = {
    Authorization: `Bearer ${TOKEN}`,
  };
  const lines = Array.from(
    { length: BATCH },
    (_, n) => JSON.stringify({ ...BENCH_ALERT, n }),
  );
  const singleSide = (url: string): Side => ({
    url: `${url}/ingest/bench`,
    body: JSON.stringify(BENCH_ALERT),
    headers: { ...auth, "Content-Type": "application/json" },
  });
  const batchSide = (url: string): Side => ({
    url: `${url}/ingest/bench`,
    body: lines.join("\n") + "\n",
    headers: { ...auth, "Content-Type": "application/x-ndjson" },
  });
  if (Deno.args.includes("--profile")) {
    return Deno.args.includes("--batch")
      ? await profile(batchSide, BATCH)
      : await profile(singleSide, 1);
  }
  await compare(
    single,
    singleSide,
    (url) => ({
      url: `${url}/api/v2/alerts`,
      body: JSON.stringify([alertmanagerAlert(BENCH_ALERT)]),
      headers: { "Content-Type": "application/json" },
    }),
    1,
    (url) => ({
      url: `${url}/ingest/bench`,
      body: JSON.stringify(BENCH_ALERT),
      headers: { "Content-Type": "application/json" },
    }),
  );
  await compare(batch, batchSide, (url) => ({
    url: `${url}/api/v2/alerts`,
    body: JSON.stringify(
      Array.from(
        { length: BATCH },
        (_, n) => alertmanagerAlert(BENCH_ALERT, n),
      ),
    ),
    headers: { "Content-Type": "application/json" },
  }), BATCH);
}

if (import.meta.main) await main();
