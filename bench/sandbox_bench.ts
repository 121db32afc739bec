/**
 * Sandbox overhead: a trivial plugin called in-process against the same plugin in a warm sandbox
 * worker (sequential latency and concurrent throughput), worker cold start (trivial plugin and each
 * built-in), and memory per idle worker. Prints ratios and µs; asserts nothing.
 *
 * Run: `deno run -A --unstable-worker-options bench/sandbox_bench.ts`
 *
 * @module
 */
import { inProcessInvoker, type Invoker } from "../core/pipeline/enrich.ts";
import type { EnrichmentPlugin } from "../core/plugin.ts";
import type { PluginEntry } from "../core/plugins/registry.ts";
import {
  createSandboxInvoker,
  loadSandboxed,
} from "../core/plugins/sandbox.ts";
import { CATALOGUE } from "../core/plugins/catalogue.ts";
import { projectUrl } from "../core/lazy.ts";

// deno-lint-ignore no-explicit-any
type AnyPlugin = EnrichmentPlugin<any>;

const dir = await Deno.makeTempDir({ prefix: "blitz-sandbox-bench-" });
const file = `${dir}/trivial.ts`;
await Deno.writeTextFile(
  file,
  `export default { name: "trivial", run: (params, ctx) => ({ n: params.n, ip: ctx.alert.ip }) };\n`,
);
const url = new URL(`file://${file}`).href;
const plugin = (await import(url)).default as AnyPlugin;
const entry: PluginEntry<AnyPlugin> = {
  name: "trivial",
  aliases: [],
  url,
  builtin: false,
  load: () => Promise.resolve(plugin),
};
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
const median = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function sequentialUs(invoker: Invoker, n: number): Promise<number> {
  for (let i = 0; i < 200; i++) {
    await invoker.invoke(entry, plugin, { n: i }, ctx, { timeoutMs: 5_000 });
  }
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      await invoker.invoke(entry, plugin, { n: i }, ctx, { timeoutMs: 5_000 });
    }
    runs.push(((performance.now() - t0) * 1000) / n);
  }
  return median(runs);
}

async function concurrentPerSecond(
  invoker: Invoker,
  total: number,
  width: number,
): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < total; i += width) {
    await Promise.all(
      Array.from(
        { length: width },
        (_, j) =>
          invoker.invoke(entry, plugin, { n: i + j }, ctx, {
            timeoutMs: 5_000,
          }),
      ),
    );
  }
  return total / ((performance.now() - t0) / 1000);
}

console.log(
  "sandbox: trivial plugin, in-process vs warm worker (median of 5 runs)",
);
const sandbox = createSandboxInvoker({ poolSize: 2 });
const inUs = await sequentialUs(inProcessInvoker, 5_000);
const sbUs = await sequentialUs(sandbox, 2_000);
console.log(
  `  sequential: in-process ${inUs.toFixed(1)} µs/call, sandboxed ${
    sbUs.toFixed(1)
  } µs/call`,
);
console.log(
  `  worker overhead per sandboxed call: ${
    (sbUs - inUs).toFixed(1)
  } µs (ratio ${(sbUs / inUs).toFixed(1)}×)`,
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
  console.log(
    `  floor: a bare postMessage round trip to a worker takes ${
      ((performance.now() - t0) * 1000 / 2_000).toFixed(1)
    } µs`,
  );
  echo.terminate();
}
const inRate = await concurrentPerSecond(inProcessInvoker, 20_000, 100);
const sbRate = await concurrentPerSecond(sandbox, 20_000, 100);
console.log(
  `  concurrent (100 in flight): in-process ${
    inRate.toFixed(0)
  } calls/s, sandboxed ${sbRate.toFixed(0)} calls/s (ratio ${
    (inRate / sbRate).toFixed(1)
  }×)`,
);
await sandbox.close();

console.log(
  "sandbox: cold start of a worker (spawn + import the plugin), median of 5",
);
async function coldMs(target: string): Promise<string> {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    try {
      await loadSandboxed(target);
    } catch (err) {
      return `fails to load with no extra permissions: ${
        (err as Error).message
      }`;
    }
    times.push(performance.now() - t0);
  }
  return `${median(times).toFixed(0)} ms`;
}
console.log(`  trivial plugin: ${await coldMs(url)}`);
for (const row of CATALOGUE.filter((r) => r.kind === "enrichment")) {
  console.log(`  built-in ${row.name}: ${await coldMs(projectUrl(row.path))}`);
}

console.log("sandbox: memory of idle workers (process RSS)");
{
  const many = createSandboxInvoker({ poolSize: 1 });
  const before = Deno.memoryUsage().rss;
  const n = 8;
  for (let i = 0; i < n; i++) {
    const e = { ...entry, url: `${url}?copy=${i}` };
    await many.invoke(e, plugin, { n: i }, ctx, { timeoutMs: 10_000 });
  }
  const after = Deno.memoryUsage().rss;
  console.log(
    `  ${n} workers: +${
      ((after - before) / 1024 / 1024).toFixed(0)
    } MiB RSS, ≈ ${
      ((after - before) / n / 1024 / 1024).toFixed(1)
    } MiB per worker`,
  );
  await many.close();
}

await Deno.remove(dir, { recursive: true });
