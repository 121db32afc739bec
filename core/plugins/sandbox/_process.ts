/**
 * One sandbox child process: `deno run` of `sandbox_child.ts` started from the Deno binary this process
 * runs (`Deno.execPath()`, or `deno` as `--allow-run=deno` resolved it through PATH), with only the
 * plugin's permission flags, a V8 heap cap, an environment holding only the plugin's declared variables,
 * and messages framed over stdin and stdout. It can be killed (SIGKILL) at any moment, spinning or not;
 * when it ends, `exited` says why: killed by us, out of memory, or a crash.
 *
 * @module
 */
import { redact } from "../../secrets.ts";
import { errorMessage } from "../call.ts";
import type { FromWorker, ToWorker } from "./sandbox_worker.ts";
import { encodeFrame, readFrames } from "./sandbox_child.ts";
import { CORE_DIR } from "./_worker_start.ts";

const CHILD_PATH = decodeURIComponent(
  new URL("./sandbox_child.ts", import.meta.url).pathname,
);
// In a source checkout the child uses the project's deno.json (its import map); the bundle has none.
const PROJECT_CONFIG = CORE_DIR.endsWith("/core/")
  ? `${CORE_DIR.slice(0, -"core/".length)}deno.json`
  : undefined;
/**
 * Variables Deno itself reads (its cache, command lookup); passed to the child, yet readable by no
 * plugin that did not declare them (its `--allow-env` names only the declared ones).
 */
const DENO_VARS = ["DENO_DIR", "HOME", "XDG_CACHE_HOME", "PATH"];
const STDERR_TAIL = 4096;

/** How a child process ended. */
export interface ChildExit {
  code: number;
  signal: Deno.Signal | null;
  /** Why: we killed it, V8 ran out of heap, or it crashed or exited on its own. */
  cause: "killed" | "oom" | "crash";
  /** The last line it wrote to stderr, redacted. */
  lastLine: string;
}

/** What `spawnChild` needs: the plugin's permissions and variables, and the heap cap. */
export interface ChildSpec {
  name: string;
  permissions: Deno.PermissionOptionsObject;
  /** Variable names (a trailing `*` is a prefix) the child's environment holds; `null`: all. */
  env: string[] | null;
  memoryMb: number;
}

/**
 * The `deno run` arguments of a child: exactly the plugin's permissions (never write, run, ffi or
 * remote imports: asked for, it is an error), the heap cap, and the child entry.
 */
export function childArgs(
  permissions: Deno.PermissionOptionsObject,
  memoryMb: number,
): string[] {
  for (const never of ["write", "run", "ffi", "import"] as const) {
    if (permissions[never] !== false && permissions[never] !== undefined) {
      throw new Error(`a sandboxed plugin never gets ${never} permission`);
    }
  }
  const args = [
    "run",
    "--quiet",
    "--no-prompt",
    "--no-remote",
    "--cached-only",
    "--no-lock",
    `--v8-flags=--max-old-space-size=${memoryMb}`,
  ];
  if (PROJECT_CONFIG && exists(PROJECT_CONFIG)) {
    args.push(`--config=${PROJECT_CONFIG}`, "--node-modules-dir=manual");
  } else args.push("--no-config");
  for (const kind of ["read", "net", "env", "sys"] as const) {
    const value = permissions[kind];
    if (value === true) args.push(`--allow-${kind}`);
    else if (Array.isArray(value) && value.length > 0) {
      const list = value.map(String);
      if (list.some((item) => item.includes(","))) {
        throw new Error(
          `a ${kind} permission entry may not contain a comma: ${
            list.join(" ")
          }`,
        );
      }
      args.push(`--allow-${kind}=${list.join(",")}`);
    }
  }
  args.push(CHILD_PATH);
  return args;
}

/** The Deno binary this process may run: its own (`Deno.execPath()`), else `deno` as PATH resolved it at start. */
export function denoCommand(): string {
  const own = Deno.execPath();
  for (const command of [own, "deno"]) {
    if (
      Deno.permissions.querySync({ name: "run", command }).state === "granted"
    ) {
      return command;
    }
  }
  throw new Error(
    `this process may not run the Deno binary: start Blitz with --allow-run=${own} (or --allow-run=deno when deno on PATH is this binary)`,
  );
}

/** A running sandbox child. */
export class SandboxChild {
  readonly pid: number;
  /** Settles once the process has ended. */
  readonly exited: Promise<ChildExit>;
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #killed = false;
  #stderr = "";

  constructor(
    spec: ChildSpec,
    onMessage: (message: FromWorker | { type: "hello"; deno: string }) => void,
  ) {
    const child = new Deno.Command(denoCommand(), {
      args: childArgs(spec.permissions, spec.memoryMb),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      clearEnv: true,
      env: childEnv(spec.env),
    }).spawn();
    this.#child = child;
    child.unref();
    this.pid = child.pid;
    this.#writer = child.stdin.getWriter();
    this.#writer.closed.catch(() => {}); // a dead child's stdin: its exit reports it
    const frames = (async () => {
      try {
        for await (const message of readFrames(child.stdout)) {
          onMessage(message as FromWorker);
        }
      } catch (err) {
        this.#stderr += `\nsandbox protocol: ${errorMessage(err)}`;
        this.kill();
      }
    })();
    const stderr = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of child.stderr) {
        this.#stderr = (this.#stderr + decoder.decode(chunk, { stream: true }))
          .slice(-STDERR_TAIL);
      }
    })().catch(() => {});
    this.exited = (async () => {
      const status = await child.status;
      await Promise.allSettled([frames, stderr]);
      const lines = this.#stderr.split("\n").map((l) => l.trim()).filter(
        Boolean,
      );
      return {
        code: status.code,
        signal: status.signal,
        cause: this.#killed
          ? "killed"
          : /out of memory/i.test(this.#stderr)
          ? "oom"
          : "crash",
        lastLine: redact(lines.at(-1) ?? ""),
      } satisfies ChildExit;
    })();
  }

  /** Sends one message (throws at once if it cannot be encoded); resolves false if the child is gone. */
  send(message: ToWorker): Promise<boolean> {
    const frame = encodeFrame(message);
    return this.#writer.write(frame).then(() => true, () => false);
  }

  /** SIGKILL: stops it whatever it runs (a spinning loop included). */
  kill(): void {
    if (this.#killed) return;
    this.#killed = true;
    try {
      this.#child.ref(); // whoever awaits `exited` keeps the process alive until the child is gone
      this.#child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** What a call (or a load) whose process died says: "plugin crashed: out of memory (cap 128 MB)", … */
export function describeExit(exit: ChildExit, memoryMb: number): string {
  if (exit.cause === "oom") {
    return `plugin crashed: out of memory (cap ${memoryMb} MB)`;
  }
  const how = exit.signal
    ? `killed by ${exit.signal}`
    : `exited with code ${exit.code}`;
  return `plugin crashed: its sandbox process ${how}${
    exit.lastLine ? ` (${exit.lastLine.slice(0, 200)})` : ""
  }`;
}

function childEnv(names: string[] | null): Record<string, string> {
  const all = Deno.env.toObject();
  if (names === null) return { ...all, NO_COLOR: "1" };
  const env: Record<string, string> = { NO_COLOR: "1" };
  const wanted = [...DENO_VARS, ...names];
  for (const [key, value] of Object.entries(all)) {
    if (
      wanted.some((name) =>
        name.endsWith("*") ? key.startsWith(name.slice(0, -1)) : key === name
      )
    ) env[key] = value;
  }
  return env;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
