/**
 * Runs a `deno task <name>` as a child process with exactly the task's permission flags (read from
 * deno.json at test time), from a temp project: the repository is added to `--allow-read` so the
 * modules load, everything else is the task's own ("." is the project folder the child runs in).
 *
 * @module
 */
import assert from "node:assert/strict";

export const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const DECODER = new TextDecoder();

/** What a child process did. */
export interface TaskRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** The flags of `deno task <name>` (between `deno run` and `main.ts`) and the words after main.ts. */
export function taskFlags(name: string): { flags: string[]; rest: string[] } {
  const tasks = JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.json`))
    .tasks as Record<string, string>;
  const line = tasks[name];
  assert.ok(line, `deno.json has a ${name} task`);
  const words = line.trim().split(/\s+/);
  assert.deepEqual(
    words.slice(0, 2),
    ["deno", "run"],
    `task ${name} is "deno run … main.ts …"`,
  );
  const main = words.indexOf("main.ts");
  assert.ok(main > 1, `task ${name} runs main.ts`);
  const flags = words.slice(2, main);
  assert.ok(
    !flags.some((f) =>
      f === "-A" || f === "--allow-all" || f === "--allow-run"
    ),
    `task ${name} grants no blanket permissions`,
  );
  // Only the Deno binary may run (plugin sandbox processes): PATH's `deno`, resolved at start.
  assert.deepEqual(
    flags.filter((f) => f.startsWith("--allow-run")),
    flags.some((f) => f.startsWith("--allow-run")) ? ["--allow-run=deno"] : [],
    `task ${name} may run only the deno binary`,
  );
  const read = flags.findIndex((f) => f.startsWith("--allow-read="));
  if (read !== -1) flags[read] = `${flags[read]},${ROOT}`;
  return { flags, rest: words.slice(main + 1) };
}

/** Runs the task with `args` from `cwd`, `env` added to the environment, `stdin` piped in. */
export function runTask(
  name: string,
  args: string[],
  options: RunOptions,
): Promise<TaskRun> {
  const { flags, rest } = taskFlags(name);
  const [program, ...before] = [...(options.wrap ?? []), Deno.execPath()];
  return runCommand(
    program!,
    [...before, "run", ...flags, `${ROOT}/main.ts`, ...rest, ...args],
    options,
  );
}

/** Where and how a child process runs: its folder, variables added to `NO_COLOR=1`, its stdin. */
export interface RunOptions {
  cwd: string;
  env?: Record<string, string>;
  stdin?: string;
  /** Kills the child (SIGKILL) when it runs longer: a bound, reported as exit 137. */
  timeoutMs?: number;
  /** `runTask`: a command that runs Deno (e.g. `nsenter -t <pid> -U -m --`). */
  wrap?: string[];
}

/** Runs `command args` to its end with `stdin` piped in; returns its exit code and decoded output. */
export async function runCommand(
  command: string,
  args: string[],
  options: RunOptions,
): Promise<TaskRun> {
  const child = new Deno.Command(command, {
    args,
    cwd: options.cwd,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  try {
    await writer.write(new TextEncoder().encode(options.stdin ?? ""));
    await writer.close();
  } catch (err) {
    // A child that exits without reading its stdin (a refused option) closes the pipe first.
    if (!(err instanceof Deno.errors.BrokenPipe)) throw err;
  }
  const timer = options.timeoutMs === undefined
    ? undefined
    : setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
  const { code, stdout, stderr } = await child.output().finally(() =>
    clearTimeout(timer)
  );
  return {
    code,
    stdout: DECODER.decode(stdout),
    stderr: DECODER.decode(stderr),
  };
}

/** A readable dump of a run for assertion messages. */
export function shown(run: TaskRun): string {
  return `exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}

/** Whether a process with this pid exists (a zombie counts: it was not reaped). */
export function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}
