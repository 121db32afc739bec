/**
 * Loading a `plugin_dirs` module without running any of it in Blitz: a one-off sandbox child process
 * with no permissions beyond reading the plugin's own modules (and the heap cap) imports it and
 * describes it (`loadSandboxed`, for the registry at start and reload), or also runs its `check` hook
 * over what the detectors give it (`checkSandboxed`, for `blitz check`). The child is killed once it
 * has answered, failed, or passed the deadline.
 *
 * @module
 */
import { TimeoutError } from "../call.ts";
import { formatDuration } from "../../duration.ts";
import type { CheckProblem } from "../../plugin.ts";
import type {
  CheckRequest,
  PluginDescription,
  ToWorker,
} from "./sandbox_worker.ts";
import { describeExit, SandboxChild } from "./_process.ts";
import { toError, workerEnv, workerPermissions } from "./_worker_start.ts";

/** The default V8 heap cap of a plugin's child process, in MB (config `plugin_memory_mb`). */
export const DEFAULT_PLUGIN_MEMORY_MB = 128;

const STAND_IN = Symbol("blitz.sandbox.standIn");

/** A registry stand-in for a plugin whose module was loaded only inside a sandbox process. */
export interface SandboxedPlugin extends Omit<PluginDescription, "hasParams"> {
  run(): never;
  [STAND_IN]: true;
}

/** Whether `plugin` is a stand-in that only the sandbox can call. */
export function isStandIn(plugin: object): boolean {
  return (plugin as Partial<SandboxedPlugin>)[STAND_IN] === true;
}

/** Options of a load: its deadline (the import included) and the child's heap cap. */
export interface LoadOptions {
  /** @default 10_000 */
  timeoutMs?: number;
  /** @default 128 */
  memoryMb?: number;
}

/**
 * Imports a plugin module only inside a sandbox child process with no permissions beyond reading its
 * own modules (and the heap cap), so its top-level code never runs in this process, and returns a
 * stand-in for the registry: its declared metadata and a `run` only the sandbox invoker can call (which
 * then validates params in the sandbox). Rejects with the load error, e.g.
 * `permission denied: env access to "HOME"`, or "plugin crashed: out of memory (cap 128 MB)".
 */
export async function loadSandboxed(
  url: string,
  options: LoadOptions = {},
): Promise<SandboxedPlugin> {
  const { description } = await session(url, options);
  const { hasParams: _, ...declared } = description;
  return {
    ...declared,
    run(): never {
      throw new Error(`Plugin "${declared.name}" runs only in the sandbox`);
    },
    [STAND_IN]: true,
  };
}

/**
 * Runs a `plugin_dirs` plugin's `check` hook over each config in a fresh sandbox child (the load's
 * grants: reading its own modules, nothing else), and returns each config's problems in order (none
 * for a plugin without a hook). Rejects with the load error, or with what the hook threw.
 */
export async function checkSandboxed(
  url: string,
  checks: CheckRequest[],
  options: LoadOptions = {},
): Promise<CheckProblem[][]> {
  if (checks.length === 0) return [];
  const { problems } = await session(url, options, checks);
  if (
    !Array.isArray(problems) || problems.length !== checks.length ||
    !problems.every((list) =>
      Array.isArray(list) &&
      list.every((p) =>
        typeof p?.message === "string" &&
        (p.path === undefined || typeof p.path === "string")
      )
    )
  ) {
    throw new TypeError(
      "check() must return a list of { path, message } problems",
    );
  }
  return problems as CheckProblem[][];
}

/** One child: init, then (with `checks`) one check message; settles on the answer, a failure or the deadline. */
function session(
  url: string,
  options: LoadOptions,
  checks?: CheckRequest[],
): Promise<{ description: PluginDescription; problems?: unknown }> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const memoryMb = options.memoryMb ?? DEFAULT_PLUGIN_MEMORY_MB;
  type Outcome = { description: PluginDescription; problems?: unknown };
  return new Promise<Outcome>((resolve, reject) => {
    let settled = false;
    let description: PluginDescription | undefined;
    const done = (result: Error | Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child?.kill();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const timer = setTimeout(
      () =>
        done(
          new TimeoutError(
            `${description ? "checking" : "loading"} ${url} timed out after ${
              formatDuration(timeoutMs)
            }`,
          ),
        ),
      timeoutMs,
    );
    let child: SandboxChild | undefined;
    try {
      child = new SandboxChild(
        {
          name: "load",
          permissions: workerPermissions(undefined, url),
          env: workerEnv(undefined),
          memoryMb,
        },
        (message) => {
          if (message.type === "ready") {
            description = message.description;
            if (!checks || !description.hasCheck) {
              return done({ description, problems: checks?.map(() => []) });
            }
            child!.send({ type: "check", id: 1, checks } satisfies ToWorker);
          } else if (message.type === "failed") done(toError(message.error));
          else if (message.type === "result" && description) {
            done(
              message.ok
                ? { description, problems: message.value }
                : toError(message.error),
            );
          }
        },
      );
    } catch (err) {
      return done(
        new Error(`Cannot start the sandbox: ${(err as Error).message}`),
      );
    }
    child.exited.then((exit) => done(new Error(describeExit(exit, memoryMb))));
    child.send({ type: "init", url, env: [] } satisfies ToWorker);
  });
}
