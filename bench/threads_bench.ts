/**
 * Would a durable ingest spread over threads catch Alertmanager? (issue 17; not in `run.ts`.) In
 * interleaved rounds, wrk -t1 -c32 posting one alert per request, as `ingest_bench.ts` does:
 * Alertmanager, the store reference (`_store_reference.ts`: one thread, Blitz's store), and the
 * threaded store reference (`_threaded_reference.ts`) with 1 HTTP thread, 2 threads each fsyncing
 * its own commits, 2 threads sharing their fsyncs, and 2 threads each with a database of its own (a
 * per-thread journal); and the two floors under them all (`_floor_reference.ts`): a bare handler that
 * parses and answers, nothing durable, and the cheapest durable 202, a journal file with one write and
 * one fsync per group. Each with its CPU per request and the cores it kept busy (`/proc`).
 * Measurements, not targets. Skipped without wrk or Alertmanager.
 * Run: `deno run -A bench/threads_bench.ts [--rounds 3] [--seconds 3]`.
 *
 * @module
 */
import { hasWrk, wrk } from "./_wrk.ts";
import {
  alertmanagerAlert,
  hasAlertmanager,
  startAlertmanager,
} from "./_alertmanager.ts";
import { type Reference, startReference } from "./_reference.ts";
import { BENCH_ALERT } from "./_project.ts";
import { cpuSeconds, info, median, numberFlag } from "./_report.ts";

const ROUNDS = numberFlag("rounds", 3);
const SECONDS = numberFlag("seconds", 3);
const CONNECTIONS = 32;

/** The references measured beside Alertmanager: name, script of `bench/`, its arguments after the folder. */
const REFERENCES: [name: string, script: string, args: string[]][] = [
  ["bare handler, nothing durable", "_floor_reference.ts", ["bare"]],
  ["journal file, 1 fsync per group", "_floor_reference.ts", ["journal"]],
  ["store reference, 1 thread", "_store_reference.ts", []],
  ["threaded reference, 1 thread", "_threaded_reference.ts", ["1"]],
  ["threaded reference, 2 threads", "_threaded_reference.ts", ["2"]],
  ["2 threads, shared fsyncs", "_threaded_reference.ts", ["2", "shared"]],
  ["2 threads, a database each", "_threaded_reference.ts", ["2", "apart"]],
];

interface Server {
  name: string;
  url: string;
  pid: number;
  body: string;
}

async function main(): Promise<void> {
  console.log(
    "## Durable ingest over threads: references against Alertmanager",
  );
  if (!(await hasWrk()) || !(await hasAlertmanager())) {
    info("skipped", "wrk or Alertmanager is not installed");
    return;
  }
  const am = await startAlertmanager();
  // Each reference's store (up to ~1 GB after a run) in a folder of its own under one removed at the end.
  const root = await Deno.makeTempDir({ prefix: "blitz_bench_threads_" });
  const references: Reference[] = [];
  try {
    const alert = JSON.stringify(BENCH_ALERT);
    const servers: Server[] = [{
      name: "Alertmanager",
      url: `${am.url}/api/v2/alerts`,
      pid: am.pid,
      body: JSON.stringify([alertmanagerAlert(BENCH_ALERT)]),
    }];
    for (const [name, script, args] of REFERENCES) {
      const dir = `${root}/${references.length}`;
      await Deno.mkdir(dir);
      const reference = await startReference(script, [dir, ...args]);
      references.push(reference);
      servers.push({
        name,
        url: `${reference.url}/ingest/bench`,
        pid: reference.pid,
        body: alert,
      });
    }
    const rps = new Map<string, number[]>();
    const cpu = new Map<string, string[]>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const server of servers) {
        const side = {
          url: server.url,
          body: server.body,
          headers: { "Content-Type": "application/json" },
          connections: CONNECTIONS,
        };
        await wrk({ ...side, seconds: 1 }); // warm-up
        const before = cpuSeconds(server.pid);
        const started = performance.now();
        const r = await wrk({ ...side, seconds: SECONDS });
        const used = cpuSeconds(server.pid) - before;
        const wall = (performance.now() - started) / 1000;
        if (r.errors + r.socketErrors > 0) {
          throw new Error(
            `${server.name}: ${r.errors + r.socketErrors} errors`,
          );
        }
        rps.set(server.name, [...(rps.get(server.name) ?? []), r.rps]);
        cpu.set(server.name, [
          ...(cpu.get(server.name) ?? []),
          `${Math.round(used * 1e6 / (r.rps * SECONDS))} µs on ${
            (used / wall).toFixed(2)
          }`,
        ]);
      }
    }
    const amRps = median(rps.get("Alertmanager")!);
    for (const server of servers) {
      const m = median(rps.get(server.name)!);
      info(
        server.name,
        `${(m / amRps).toFixed(2)} of Alertmanager (median ${
          Math.round(m)
        } req/s; CPU per request on cores, by round: ${
          cpu.get(server.name)!.join(", ")
        })`,
      );
    }
  } finally {
    await Promise.all(references.map((r) => r.stop()));
    await am.stop();
    await Deno.remove(root, { recursive: true });
  }
}

if (import.meta.main) await main();
