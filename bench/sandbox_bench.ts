/**
 * Sandbox cost: one trivial plugin called three ways in the same run, in this process, in a warm
 * sandbox Worker (how built-ins run) and in a warm sandbox child process (how `plugin_dirs` plugins
 * run, issue 16), each printed in µs or ms and as ratios to the Worker and in-process numbers:
 *
 * - warm per-call latency (sequential; 5 interleaved rounds, median) and overhead over in-process;
 * - throughput with 100 calls in flight (2 Workers, 4 child processes: the defaults);
 * - first call of a cold pool (spawn, import the plugin, one call), median of 5;
 * - load time (a fresh sandbox imports the module and describes it, as `loadRegistry` does at
 *   start), median of 5, for the trivial plugin and each built-in enrichment (in a Worker, where
 *   built-ins run);
 * - memory per idle sandbox: 8 Workers (this process's RSS grows) against 8 child processes (each
 *   child's RSS and PSS from /proc, plus what this process grows).
 *
 * Prints measurements, asserts nothing (no targets).
 *
 * Run: `deno run -A --unstable-worker-options bench/sandbox_bench.ts [--rounds 5]`
 *
 * @module
 */
import { inProcessInvoker, type Invoker } from "../core/pipeline/enrich.ts";
import type { EnrichmentPlugin } from "../core/plugin.ts";
import type { PluginEntry } from "../core/plugins/registry.ts";
import {
  createSandboxInvoker,
  loadSandboxed,
  workerPermissions,
} from "../core/plugins/sandbox/sandbox.ts";
import { CATALOGUE } from "../core/plugins/catalogue.ts";
import { projectUrl } from "../core/lazy.ts";
import { info, median } from "./_report.ts";

// deno-lint-ignore no-explicit-any
type AnyPlugin = EnrichmentPlugin<any>;

const ROUNDS = numberFlag("rounds", 5);
const MIB = 1024 * 1024;

const dir = await Deno.makeTempDir({ prefix: "blitz-sandbox-bench-" });
const file = `${dir}/trivial.ts`;
await Deno.writeTextFile(
  file,
  `export default { name: "trivial", run: (params, ctx) => ({ n: params.n, ip: ctx.alert.ip }) };\n`,
);
const url = new URL(`file://${file}`).href;
const plugin = (await import(url)).default as AnyPlugin;
/** The same module as a `plugin_dirs` plugin (child processes) and as a built-in (Workers). */
const processEntry: PluginEntry<AnyPlugin> = {
  name: "trivial",
  aliases: [],
  url,
  builtin: false,
  load: () => Promise.resolve(plugin),
};
const workerEntry: PluginEntry<AnyPlugin> = { ...processEntry, builtin: true };
const ctx = {
  alert: {
    ip: "192.0.2.1",
    message: "x".repeat(200),
    nested: { a: [1, 2, 3], b: "y" },
  },
  alertId: "bench",
  detector: "bench",
  args: ["192.0.2.1"],
  settings: { api: "https://api.example" },
};
const call = (invoker: Invoker, entry: PluginEntry<AnyPlugin>, n: number) =>
  invoker.invoke(entry, plugin, { n }, ctx, { timeoutMs: 10_000 });

const us = (x: number) => `${x.toFixed(1)} µs`;
const ms = (x: number) => `${x.toFixed(1)} ms`;
const times = (x: number) => `${x.toFixed(1)}×`;

// 1. Warm per-call latency, sequential: interleaved rounds of in-process, Worker, child process.
console.log(
  `sandbox: trivial plugin, in-process vs warm Worker vs warm child process (median of ${ROUNDS} interleaved rounds)`,
);
const warm = createSandboxInvoker({ poolSize: 2, processes: 4 });
const ways = [
  {
    name: "in-process",
    invoker: inProcessInvoker,
    entry: processEntry,
    n: 5_000,
  },
  { name: "worker", invoker: warm, entry: workerEntry, n: 2_000 },
  { name: "process", invoker: warm, entry: processEntry, n: 2_000 },
] as const;
for (const way of ways) {
  for (let i = 0; i < 200; i++) await call(way.invoker, way.entry, i);
}
const perCall: Record<string, number[]> = {};
for (let r = 0; r < ROUNDS; r++) {
  for (const way of ways) {
    const t0 = performance.now();
    for (let i = 0; i < way.n; i++) await call(way.invoker, way.entry, i);
    (perCall[way.name] ??= []).push(((performance.now() - t0) * 1000) / way.n);
  }
}
const inUs = median(perCall["in-process"]!);
const workerUs = median(perCall.worker!);
const processUs = median(perCall.process!);
info("per call, in-process", us(inUs));
info(
  "per call, warm Worker",
  `${us(workerUs)} (${times(workerUs / inUs)} in-process)`,
);
info(
  "per call, warm child process",
  `${us(processUs)} (${times(processUs / inUs)} in-process, ${
    times(processUs / workerUs)
  } Worker)`,
);
info("overhead per call, Worker", us(workerUs - inUs));
info(
  "overhead per call, child process",
  `${us(processUs - inUs)} (${
    times((processUs - inUs) / (workerUs - inUs))
  } the Worker's overhead)`,
);
{
  const echo = new Worker(
    "data:text/javascript,self.onmessage = (e) => self.postMessage(e.data);",
    { type: "module" },
  );
  const roundTrip = () =>
    new Promise((resolve) => {
      echo.onmessage = resolve;
      echo.postMessage({ params: { n: 1 }, ctx });
    });
  for (let i = 0; i < 200; i++) await roundTrip();
  const t0 = performance.now();
  for (let i = 0; i < 2_000; i++) await roundTrip();
  info(
    "floor: a bare postMessage round trip to a Worker",
    us((performance.now() - t0) * 1000 / 2_000),
  );
  echo.terminate();
}

// 2. Throughput with 100 calls in flight.
async function perSecond(
  invoker: Invoker,
  entry: PluginEntry<AnyPlugin>,
  total: number,
): Promise<number> {
  const width = 100;
  const t0 = performance.now();
  for (let i = 0; i < total; i += width) {
    await Promise.all(
      Array.from({ length: width }, (_, j) => call(invoker, entry, i + j)),
    );
  }
  return total / ((performance.now() - t0) / 1000);
}
const rates: Record<string, number[]> = {};
for (let r = 0; r < ROUNDS; r++) {
  for (const way of ways) {
    (rates[way.name] ??= []).push(
      await perSecond(way.invoker, way.entry, way.n * 2),
    );
  }
}
const inRate = median(rates["in-process"]!);
const workerRate = median(rates.worker!);
const processRate = median(rates.process!);
const perS = (x: number) => `${x.toFixed(0)} calls/s`;
info("100 in flight, in-process", perS(inRate));
info(
  "100 in flight, 2 Workers",
  `${perS(workerRate)} (in-process ÷ this = ${times(inRate / workerRate)})`,
);
info(
  "100 in flight, 4 child processes",
  `${perS(processRate)} (in-process ÷ this = ${
    times(inRate / processRate)
  }, Worker ÷ this = ${times(workerRate / processRate)})`,
);
await warm.close();

// 3. First call of a cold pool: spawn, import, one call.
console.log(
  `sandbox: first call of a cold pool (spawn + import + call), median of ${ROUNDS}`,
);
async function firstCallMs(entry: PluginEntry<AnyPlugin>): Promise<number> {
  const fresh = createSandboxInvoker({ poolSize: 1, processes: 1 });
  const t0 = performance.now();
  await call(fresh, entry, 1);
  const took = performance.now() - t0;
  await fresh.close();
  return took;
}
const firstCalls: Record<string, number[]> = {};
for (let r = 0; r < ROUNDS; r++) {
  (firstCalls.worker ??= []).push(await firstCallMs(workerEntry));
  (firstCalls.process ??= []).push(await firstCallMs(processEntry));
}
const firstWorker = median(firstCalls.worker!);
const firstProcess = median(firstCalls.process!);
info(
  "first call, Worker",
  `${ms(firstWorker)} (${
    times(firstWorker * 1000 / workerUs)
  } a warm call in it)`,
);
info(
  "first call, child process",
  `${ms(firstProcess)} (${times(firstProcess / firstWorker)} Worker, ${
    times(firstProcess * 1000 / processUs)
  } a warm call in it)`,
);

// 4. Load: a fresh sandbox imports the module and describes it (loadRegistry at start).
console.log(
  `sandbox: load (import and describe the module), median of ${ROUNDS}`,
);
const WORKER_URL = new URL(
  "../core/plugins/sandbox/sandbox_worker.ts",
  import.meta.url,
);
/** What a built-in's pool does first: a Worker with the plugin's grants imports it and says "ready". */
function loadInWorker(target: string): Promise<void> {
  const worker = new Worker(WORKER_URL, {
    type: "module",
    deno: { permissions: workerPermissions(undefined, target) },
  });
  return new Promise<void>((resolve, reject) => {
    worker.onmessage = (event) => {
      if (event.data.type === "ready") resolve();
      else if (event.data.type === "failed") {
        reject(new Error(event.data.error.message));
      }
    };
    worker.onerror = (event) => {
      event.preventDefault();
      reject(new Error(event.message));
    };
    worker.postMessage({ type: "init", url: target, env: [] });
  }).finally(() => worker.terminate());
}
async function loadMs(load: () => Promise<unknown>): Promise<number | string> {
  const took: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = performance.now();
    try {
      await load();
    } catch (err) {
      return `fails to load with no extra permissions: ${
        (err as Error).message
      }`;
    }
    took.push(performance.now() - t0);
  }
  return median(took);
}
const loadWorker = await loadMs(() => loadInWorker(url));
const loadProcess = await loadMs(() => loadSandboxed(url));
if (typeof loadWorker === "number" && typeof loadProcess === "number") {
  info("load, trivial plugin, Worker", ms(loadWorker));
  info(
    "load, trivial plugin, child process",
    `${ms(loadProcess)} (${times(loadProcess / loadWorker)} Worker)`,
  );
} else info("load, trivial plugin", `${loadWorker} / ${loadProcess}`);
for (const row of CATALOGUE.filter((r) => r.kind === "enrichment")) {
  const took = await loadMs(() => loadInWorker(projectUrl(row.path)));
  info(
    `load, built-in ${row.name}, Worker`,
    typeof took === "number" ? ms(took) : took,
  );
}

// 5. Memory per idle sandbox: 8 Workers against 8 child processes (one per module copy).
console.log(
  "sandbox: memory per idle sandbox (8 of each, one per module copy)",
);
const n = 8;
{
  const workers = createSandboxInvoker({ poolSize: 1 });
  const before = Deno.memoryUsage().rss;
  for (let i = 0; i < n; i++) {
    await call(workers, { ...workerEntry, url: `${url}?worker=${i}` }, i);
  }
  const workerMib = (Deno.memoryUsage().rss - before) / n / MIB;
  await workers.close();

  const processes = createSandboxInvoker({ processes: 1 });
  const parentBefore = Deno.memoryUsage().rss;
  for (let i = 0; i < n; i++) {
    await call(processes, { ...processEntry, url: `${url}?process=${i}` }, i);
  }
  const parentMib = (Deno.memoryUsage().rss - parentBefore) / n / MIB;
  const pids = Object.values(processes.pids()).flat();
  const rss = median(pids.map((pid) => procKib(pid, "status", "VmRSS"))) / 1024;
  const pss = median(pids.map((pid) => procKib(pid, "smaps_rollup", "Pss"))) /
    1024;
  await processes.close();
  info(
    "memory per Worker (this process's RSS)",
    `${workerMib.toFixed(1)} MiB`,
  );
  info(
    `memory per child process (${pids.length}; median)`,
    `RSS ${rss.toFixed(1)} MiB (${times(rss / workerMib)} Worker), PSS ${
      pss.toFixed(1)
    } MiB (${times(pss / workerMib)} Worker); this process's RSS moved ${
      parentMib.toFixed(1)
    } MiB per child`,
  );
}

await Deno.remove(dir, { recursive: true });

/** A field of /proc/<pid>/<file> in KiB ("VmRSS:   51234 kB"), NaN if absent. */
function procKib(pid: number, file: string, field: string): number {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/${file}`);
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

function numberFlag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  const value = i >= 0 ? Number(Deno.args[i + 1]) : fallback;
  return Number.isFinite(value) && value > 0 ? value : fallback;
}
