/**
 * The sandbox's worker entry (started only by `_worker_start.ts`, for `sandbox.ts`).
 * It imports one plugin module with the worker's own permissions, then runs the calls its parent posts,
 * each with its own AbortSignal, and posts back JSON results, or errors as `{ name, message }`.
 *
 * The plugin is imported with a computed specifier on purpose: Deno checks the whole graph of such an
 * import (the plugin, its local imports, and the files its own `import()`s name) against the worker's
 * permissions. A static import would load that graph with the parent's permissions instead.
 *
 * @module
 */
import process from "node:process";
import type { ConfigReads, Json, Permissions } from "../../plugin.ts";

/** An error as it crosses the worker boundary. */
export interface WireError {
  name: string;
  message: string;
}

/** What a plugin module's default export declares, as plain data. */
export interface PluginDescription {
  name: string;
  aliases?: string[];
  positional?: string[];
  timeoutMs?: number;
  permissions?: Permissions;
  sideEffects?: boolean;
  fillArgs?: boolean;
  urlParams?: string[];
  reads?: ConfigReads;
  /** Whether the plugin has a params schema (validated in the worker for stand-ins). */
  hasParams: boolean;
  /** Whether the plugin has a `check` hook (`blitz check` runs it in a sandbox). */
  hasCheck?: boolean;
}

/** One config a `check` hook validates: what the detector gives the plugin, and its context. */
export interface CheckRequest {
  config: Record<string, unknown>;
  ctx: { detector: string; settings: Record<string, unknown> };
}

/** Messages from the parent. */
export type ToWorker =
  | { type: "init"; url: string; env: string[] | null }
  | {
    type: "call";
    id: number;
    params: unknown;
    ctx: CallContext;
    validate: boolean;
  }
  | { type: "abort"; id: number; message: string }
  /** `blitz check`: runs the plugin's `check` hook over each config; the result is a list of problem lists. */
  | { type: "check"; id: number; checks: CheckRequest[] };

/** Messages to the parent. */
export type FromWorker =
  | { type: "ready"; description: PluginDescription }
  | { type: "failed"; error: WireError }
  | { type: "result"; id: number; ok: true; value: Json }
  | { type: "result"; id: number; ok: false; error: WireError }
  | { type: "aborted"; id: number }
  | { type: "log"; message: string };

/** The structured-cloneable part of a plugin call's context. */
export interface CallContext {
  alert: Record<string, unknown>;
  alertId: string;
  detector: string;
  args: unknown[];
  settings: Record<string, unknown>;
}

interface LoadedPlugin {
  name: string;
  params?: {
    safeParse(
      value: unknown,
    ): { success: true; data: unknown } | {
      success: false;
      error: { issues: { path: PropertyKey[]; message: string }[] };
    };
  };
  run?(params: unknown, ctx: unknown): unknown;
  /** A channel plugin (`defineChannel`): `send(message, ctx)`, its params in `ctx.settings`. */
  send?(message: unknown, ctx: unknown): unknown;
  check?(config: unknown, ctx: unknown): unknown;
}

const scope = globalThis as unknown as {
  postMessage(message: FromWorker): void;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  addEventListener(
    type: "error" | "unhandledrejection",
    listener: (event: Event & { reason?: unknown; error?: unknown }) => void,
  ): void;
};

const post = (message: FromWorker) => scope.postMessage(message);
const controllers = new Map<number, AbortController>();
let loaded: Promise<LoadedPlugin> | undefined;

/** Turns anything thrown into `{ name, message }`; Deno's permission errors become "permission denied: …". */
export function wireError(err: unknown): WireError {
  let current = err;
  for (let depth = 0; current instanceof Error && depth < 8; depth++) {
    const first = (current.message || "").split("\n")[0]!;
    const requires =
      /^Requires (.+? access(?: to .+?)?)(?:, run again with the --allow-[\w-]+ flag)?$/
        .exec(first);
    if (current.name === "NotCapable" || requires) {
      return {
        name: "NotCapable",
        message: `permission denied: ${requires?.[1] ?? first}`,
      };
    }
    current = current.cause;
  }
  if (err instanceof Error) {
    return {
      name: err.name || "Error",
      message: (err.message || err.name || "Error").split("\n")[0]!,
    };
  }
  return { name: "Error", message: String(err) };
}

/**
 * JSON-compatible copy of a plugin's result, as `core/json.ts` makes it. A copy, not an import: this file
 * is copied alone next to the single-file bundle, so it imports nothing local at run time.
 */
function toJson(value: unknown): Json {
  if (value === undefined) return null;
  try {
    return JSON.parse(
      JSON.stringify(
        value,
        (_k, v) => (typeof v === "bigint" ? v.toString() : v),
      ) ?? "null",
    );
  } catch {
    return String(value);
  }
}

function format(args: unknown[]): string {
  return args.map((
    a,
  ) => (typeof a === "string" ? a : Deno.inspect(a, { depth: 4 }))).join(" ");
}

/** Routes console output through the parent, which redacts secrets before writing it. */
function forwardConsole(): void {
  for (const method of ["log", "info", "warn", "error", "debug"] as const) {
    console[method] = (...args: unknown[]) =>
      post({ type: "log", message: format(args) });
  }
}

/**
 * Gives npm libraries a `process.env` that holds only the declared variables (libraries such as
 * `debug` enumerate the environment when they load, which needs access to every variable).
 */
function limitEnv(names: string[] | null): void {
  if (names === null) return;
  const env: Record<string, string> = {};
  for (const name of names) {
    try {
      const value = Deno.env.get(name);
      if (value !== undefined) env[name] = value;
    } catch {
      // a pattern such as AWS_* cannot be listed without access to every variable
    }
  }
  (process as { env: Record<string, string> }).env = env;
}

function describe(value: unknown): PluginDescription {
  if (
    !value || typeof value !== "object" ||
    (typeof (value as { run?: unknown }).run !== "function" &&
      typeof (value as { send?: unknown }).send !== "function")
  ) {
    throw new TypeError(
      "could not find a default export with a run(params, ctx) function",
    );
  }
  const plugin = value as Record<string, unknown>;
  const params = plugin.params as { safeParse?: unknown } | undefined;
  if (params !== undefined && typeof params?.safeParse !== "function") {
    throw new TypeError(`"${String(plugin.name)}".params must be a zod schema`);
  }
  const description: PluginDescription = {
    name: String(plugin.name),
    hasParams: params !== undefined,
  };
  if (typeof plugin.check === "function") description.hasCheck = true;
  for (
    const key of [
      "aliases",
      "positional",
      "timeoutMs",
      "permissions",
      "sideEffects",
      "fillArgs",
      "urlParams",
      "reads",
    ] as const
  ) {
    if (plugin[key] !== undefined) {
      (description as unknown as Record<string, unknown>)[key] = toJson(
        plugin[key],
      );
    }
  }
  return description;
}

async function init(url: string, env: string[] | null): Promise<LoadedPlugin> {
  limitEnv(env);
  forwardConsole();
  const mod = await import(url);
  const description = describe(mod.default);
  post({ type: "ready", description });
  return mod.default as LoadedPlugin;
}

async function call(
  id: number,
  params: unknown,
  ctx: CallContext,
  validate: boolean,
): Promise<void> {
  const controller = new AbortController();
  controllers.set(id, controller);
  try {
    const plugin = await loaded!;
    // A channel validates its settings (the channel's `params`); the message is Blitz's own.
    const channel = typeof plugin.run !== "function";
    if (validate && plugin.params) {
      const parsed = plugin.params.safeParse(channel ? ctx.settings : params);
      if (!parsed.success) {
        const detail = parsed.error.issues.map((i) =>
          `${i.path.join(".") || "params"}: ${i.message}`
        ).join("; ");
        throw new TypeError(`invalid params: ${detail}`);
      }
      if (channel) {
        ctx = { ...ctx, settings: parsed.data as Record<string, unknown> };
      } else params = parsed.data;
    }
    const log = (message: string) =>
      post({ type: "log", message: String(message) });
    const value = await (channel ? plugin.send! : plugin.run!).call(
      plugin,
      params,
      {
        ...ctx,
        signal: controller.signal,
        log,
      },
    );
    post({ type: "result", id, ok: true, value: toJson(value) });
  } catch (err) {
    post({ type: "result", id, ok: false, error: wireError(err) });
  } finally {
    controllers.delete(id);
  }
}

/** Runs the `check` hook over each config: a list of `{ path, message }` lists, in order. */
async function check(id: number, checks: CheckRequest[]): Promise<void> {
  try {
    const plugin = await loaded!;
    const out = checks.map(({ config, ctx }) =>
      toJson(plugin.check?.call(plugin, config, ctx) ?? [])
    );
    post({ type: "result", id, ok: true, value: out });
  } catch (err) {
    post({ type: "result", id, ok: false, error: wireError(err) });
  }
}

scope.onmessage = (event) => {
  const message = event.data;
  if (message.type === "init") {
    loaded = init(message.url, message.env);
    loaded.catch((err) => post({ type: "failed", error: wireError(err) }));
  } else if (message.type === "call") {
    call(message.id, message.params, message.ctx, message.validate);
  } else if (message.type === "check") {
    check(message.id, message.checks);
  } else if (message.type === "abort") {
    post({ type: "aborted", id: message.id });
    const error = new Error(message.message);
    error.name = "TimeoutError";
    controllers.get(message.id)?.abort(error);
  }
};

// A stray rejection or error of one call must not end the worker (and the other calls it runs).
scope.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  post({
    type: "log",
    message: `unhandled rejection: ${wireError(event.reason).message}`,
  });
});
scope.addEventListener("error", (event) => {
  event.preventDefault();
  post({
    type: "log",
    message: `uncaught error: ${wireError(event.error).message}`,
  });
});
