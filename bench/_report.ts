/**
 * How every benchmark prints: one line per measurement, and for a target of the performance issue
 * (issue 17) `name: value (target ≥ goal: met|MISSED)`, which `bench/run.ts` counts from each bench
 * file's output. Ratios are medians over interleaved rounds measured in the same run, so a loaded
 * machine moves both sides alike.
 *
 * @module
 */

/** The comparisons a target can make; `unit` is printed after the goal (in the unit `shown` uses). */
export type Goal = { op: "≥" | "≤" | "<"; value: number; unit?: string };

/** True when `measured` meets `goal`. */
export function meets(measured: number, goal: Goal): boolean {
  if (!Number.isFinite(measured)) return false;
  return goal.op === "≥"
    ? measured >= goal.value
    : goal.op === "≤"
    ? measured <= goal.value
    : measured < goal.value;
}

/**
 * Prints a target's line: `target: <name>: <shown> (target <op> <goal>: met|MISSED)<detail>`.
 * `shown` defaults to `measured` with two decimals.
 */
export function target(
  name: string,
  measured: number,
  goal: Goal,
  options: { shown?: string; detail?: string } = {},
): boolean {
  const ok = meets(measured, goal);
  console.log(
    `target: ${name}: ${
      options.shown ?? measured.toFixed(2)
    } (target ${goal.op} ${goal.value}${goal.unit ?? ""}: ${
      ok ? "met" : "MISSED"
    })${options.detail ? `  ${options.detail}` : ""}`,
  );
  return ok;
}

/** Prints why a target was not measured (its line is counted as skipped, not missed). */
export function skipped(name: string, why: string): void {
  console.log(`target: ${name}: skipped (${why})`);
}

/** Prints an indented measurement that is not a target. */
export function info(label: string, value: string): void {
  console.log(`  ${label.padEnd(52)} ${value}`);
}

/** The median of `xs` (NaN for none). */
export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The value at quantile `q` of an ascending array. */
export function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ??
    NaN;
}

/** `--name value` from the command line, else `fallback`. */
export function numberFlag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 && Deno.args[i + 1] !== undefined
    ? Number(Deno.args[i + 1])
    : fallback;
}

/** CPU seconds (user + system) a process has used so far (Linux /proc). */
export function cpuSeconds(pid: number | "self"): number {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/** CPU seconds (user + system) of a process's main thread (the thread whose id is the pid). */
export function mainThreadCpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/task/${pid}/stat`);
}

/** User + system CPU seconds of a `/proc/…/stat` file (fields 14 and 15, in clock ticks of 1/100 s). */
function statCpuSeconds(path: string): number {
  const fields = Deno.readTextFileSync(path).split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Peak resident memory (VmHWM) of a process, in bytes. */
export function peakRss(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** Current resident memory (VmRSS) of a process, in bytes. */
export function rss(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** True when an executable exists at `path`. */
export async function installed(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}
