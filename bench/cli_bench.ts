/**
 * CLI cold start (issue 17): `deno task ingest` of one alert in a fresh process against an empty
 * `deno run`, both timed by hyperfine (installed; falls back to timing child processes itself) in
 * interleaved rounds. Target: cold ingest ≤ 5× the empty run.
 *
 * Run: `deno run -A bench/cli_bench.ts [--rounds 3] [--runs 10]`.
 *
 * @module
 */
import { stringify as toYaml } from "yaml";
import { info, installed, median, numberFlag, target } from "./_report.ts";

const ROUNDS = numberFlag("rounds", 3);
const RUNS = numberFlag("runs", 10);
const HYPERFINE = "/usr/bin/hyperfine";
const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** A throwaway project with one detector that only mails (to the file outbox: no SMTP configured). */
async function project(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "blitz-bench-cli-" });
  await Deno.mkdir(`${dir}/detectors`);
  await Deno.writeTextFile(
    `${dir}/detectors/cold.yaml`,
    toYaml({
      cold: {
        subject: "Cold {ip}",
        actions: {
          send: [["pass_to_mail", { return_name: "ip", data: "{ip}" }]],
        },
      },
    }),
  );
  await Deno.writeTextFile(
    `${dir}/blitz.yaml`,
    toYaml({
      to: ["soc@example.org"],
      public_url: "https://blitz.example.org",
    }),
  );
  await Deno.writeTextFile(`${dir}/empty.ts`, "");
  await Deno.writeTextFile(`${dir}/alert.json`, '{"ip":"192.0.2.1"}');
  return dir;
}

/** The ingest task's flags; the repository joins --allow-read (the child runs in the temp project). */
async function ingestFlags(): Promise<string[]> {
  const task = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`)).tasks
    .ingest as string;
  return task.replace(/^deno run /, "").replace(/ main\.ts ingest$/, "")
    .split(/\s+/).map((f) =>
      f.startsWith("--allow-read=") ? `${f},${ROOT}` : f
    );
}

/** CPU seconds (user + system, mean) of each command in the last hyperfine round. */
let lastCpu: number[] = [];

/** Median seconds of each command over `RUNS` runs, by hyperfine. */
async function hyperfine(dir: string, commands: string[]): Promise<number[]> {
  const json = `${dir}/hyperfine.json`;
  const out = await new Deno.Command(HYPERFINE, {
    args: [
      "--warmup",
      "2",
      "--runs",
      String(RUNS),
      "--style",
      "none",
      "--export-json",
      json,
      ...commands,
    ],
    cwd: dir,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `hyperfine failed: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  const results = JSON.parse(await Deno.readTextFile(json)).results as {
    median: number;
    user: number;
    system: number;
  }[];
  lastCpu = results.map((r) => r.user + r.system);
  return results.map((r) => r.median);
}

/** Median seconds of each command over `RUNS` runs, timed here (no hyperfine). */
async function timeHere(dir: string, commands: string[][]): Promise<number[]> {
  const medians: number[] = [];
  for (const [cmd, ...args] of commands) {
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      const child = new Deno.Command(cmd!, {
        args,
        cwd: dir,
        stdin: "piped",
        stdout: "null",
        stderr: "null",
      }).spawn();
      const writer = child.stdin.getWriter();
      await writer.write(await Deno.readFile(`${dir}/alert.json`));
      await writer.close();
      if (!(await child.status).success) throw new Error(`${cmd} failed`);
      times.push((performance.now() - t0) / 1000);
    }
    medians.push(median(times));
  }
  return medians;
}

async function main(): Promise<void> {
  const dir = await project();
  try {
    const deno = Deno.execPath();
    const empty = [deno, "run", "--quiet", `${dir}/empty.ts`];
    const ingest = [
      deno,
      "run",
      ...(await ingestFlags()),
      `${ROOT}/main.ts`,
      "ingest",
      "cold",
      "--config",
      `${dir}/blitz.yaml`,
    ];
    const useHyperfine = await installed(HYPERFINE);
    const ratios: number[] = [];
    const cpuRatios: number[] = [];
    const cold: number[] = [];
    const base: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which goes first: the machine's load drifts within a round.
      const pair = round % 2 ? [ingest, empty] : [empty, ingest];
      const times = useHyperfine
        ? await hyperfine(dir, pair.map((c) => `${c.join(" ")} < alert.json`))
        : await timeHere(dir, pair);
      const [e, c] = round % 2
        ? [times[1]!, times[0]!]
        : [times[0]!, times[1]!];
      ratios.push(c / e);
      if (useHyperfine) {
        const [ce, cc] = round % 2
          ? [lastCpu[1]!, lastCpu[0]!]
          : [lastCpu[0]!, lastCpu[1]!];
        cpuRatios.push(cc / ce);
      }
      cold.push(c * 1000);
      base.push(e * 1000);
    }
    target("cli: cold ingest ÷ empty deno run", median(ratios), {
      op: "≤",
      value: 5,
    }, {
      detail: `(median of ${ROUNDS} rounds × ${RUNS} runs${
        useHyperfine ? ", hyperfine" : ""
      }: ${median(cold).toFixed(0)} ms vs ${median(base).toFixed(0)} ms)`,
    });
    info("ratios per round", ratios.map((r) => r.toFixed(2)).join(" "));
    // Wall time is the target (what a cold start costs); on a loaded host the short empty run often
    // fits in one time slice and the ingest does not, so its CPU ratio is printed beside it.
    if (cpuRatios.length) {
      info(
        "CPU (user + system) ratio per round",
        cpuRatios.map((r) => r.toFixed(2)).join(" "),
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
