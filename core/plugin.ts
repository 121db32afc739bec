/**
 * The plugin contract shared by enrichments, actions and detector modules.
 *
 * Plugins import only this file (and their own libraries). Every `define*` helper returns its input
 * unchanged, so a plugin may also be a plain default-exported object with no imports at all.
 *
 * @module
 */
import type { z } from "zod";
import type { SHAREABLE_CONFIG } from "./plugins/shareable_config.ts";

export { lookup } from "./template.ts";
export { closest } from "./suggest.ts";
export { checkAddress } from "./headers.ts";
import type { ChannelMessage } from "./channels/model.ts";
export type {
  ChannelMessage,
  MessageAction,
  MessageEnrichment,
  SeverityLevel,
} from "./channels/model.ts";
export { type Json, parseJson, stringifyJson, toJson } from "./json.ts";
export {
  formatIp,
  isIpLiteral,
  type ParsedIp,
  parseIp,
  ptrName,
  rangeToCidrs,
  unmapV4,
} from "./ip.ts";
export type { OutgoingMessage } from "./delivery/delivery.ts";
// SSRF-safe HTTP for plugins that call out, and a capped body reader (safe_fetch imports only its own
// helper files and core/ip.ts, so it costs a worker little to load).
export {
  BlockedRequestError,
  buildUrl,
  fillText,
  isPrivateAddress,
  readTextCapped,
  safeFetch,
  type SafeFetchPolicy,
  urlProblem,
} from "./safe_fetch/safe_fetch.ts";

/** What the sandbox grants a plugin: nothing beyond this list. */
export interface Permissions {
  /** Hosts (`host` or `host:port`) the plugin may reach; `true` for any host. @default false */
  net?: boolean | string[];
  /** Files or folders the plugin may read. @default false */
  read?: boolean | string[];
  /** Environment variables the plugin may read. @default false */
  env?: boolean | string[];
  /** System information the plugin may read (e.g. `["osRelease"]`). @default false */
  sys?: boolean | string[];
}

/** What a plugin call receives besides its params. */
export interface PluginContext {
  /** Aborted when the call's deadline passes: pass it to every fetch, query and lookup. */
  signal: AbortSignal;
  /** The alert (after the detector's preprocess hook), read-only. */
  alert: Readonly<Record<string, unknown>>;
  /** The detector's name. */
  detector: string;
  /** The alert's id. */
  alertId: string;
  /** Positional values taken from the alert by `e_key`, in order. */
  args: unknown[];
  /** Plugin settings from the global config (`plugins.<name>`), plus what `reads` declares, with `${env:}` resolved. */
  settings: Readonly<Record<string, unknown>>;
  /** Short progress or warning line for the operator; secrets are redacted before output. */
  log(message: string): void;
}

/** What a plugin's `check` hook receives besides the config it checks. */
export interface CheckContext {
  /** The detector's name. */
  detector: string;
  /** What `ctx.settings` will hold when it runs: `plugins.<name>` plus what `reads` declares. */
  settings: Readonly<Record<string, unknown>>;
}

/** One thing a `check` hook found: where in the checked config (`query`, `data.conn_details.server`), and the fix. */
export interface CheckProblem {
  path: string;
  message: string;
}

/**
 * Config a plugin reads besides `plugins.<name>`. Each key arrives in `ctx.settings` under its own name
 * (`plugins.<name>` wins on a clash). Declared, so an operator sees what a plugin reads.
 */
export interface ConfigReads {
  global?: (typeof SHAREABLE_CONFIG.global)[number][];
  detector?: (typeof SHAREABLE_CONFIG.detector)[number][];
}

/** An enrichment plugin: looks something up and returns data, never HTML. */
export interface EnrichmentPlugin<P = Record<string, unknown>> {
  /** The `e_func` name detectors use. */
  name: string;
  /** Other `e_func` names that map to this plugin (the original Blitz names). */
  aliases?: string[];
  /** Schema of the named params (`e_args` plus positional values). */
  params?: z.ZodType<P>;
  /** Names given, in order, to the values of the comma-separated `e_key`. */
  positional?: string[];
  /**
   * Fill `{key}` placeholders in `e_args` from the alert before the call. Plugins that bind alert
   * values themselves (SQL `?` parameters) set this to false, so alert data never becomes query text.
   * @default true
   */
  fillArgs?: boolean;
  /** What the sandbox grants. @default {} */
  permissions?: Permissions;
  /** Config it reads besides `plugins.<name>`, e.g. `{ global: ["databases"] }`. @default {} */
  reads?: ConfigReads;
  /** Deadline per call. @default 5000 */
  timeoutMs?: number;
  /**
   * Checks the config a detector gives it (`e_args` of an enrichment, the config object of an action),
   * as written, placeholders unfilled, when `blitz check` runs; never per alert. Returns what is wrong,
   * each with its path inside that config. For what fails later at the call but can be known now: a
   * missing query, an unknown database, a URL without a scheme. @default no checks
   */
  check?(config: Record<string, unknown>, ctx: CheckContext): CheckProblem[];
  /** Does the work. */
  run(params: P, ctx: PluginContext): Promise<unknown> | unknown;
}

/** An action plugin: a send action (before delivery) or a step of a reply button. */
export interface ActionPlugin<P = Record<string, unknown>> {
  /** The action name detectors use (`pass_to_mail`, `jira_create`, …). */
  name: string;
  /** Other names that map to this plugin. */
  aliases?: string[];
  /** Schema of the action's config object after placeholders are filled. */
  params?: z.ZodType<P>;
  /** Whether running it changes something outside Blitz (`render` skips these). @default true */
  sideEffects?: boolean;
  /**
   * Config fields that are URL templates: their `{key}` placeholders are filled URL-encoded, and a
   * placeholder in the scheme, host or port is an error, so alert data never chooses where a request goes.
   */
  urlParams?: string[];
  /** What the sandbox grants. @default {} */
  permissions?: Permissions;
  /** Config it reads besides `plugins.<name>`, e.g. `{ global: ["databases"] }`. @default {} */
  reads?: ConfigReads;
  /** Deadline per call. @default 10000 */
  timeoutMs?: number;
  /**
   * Checks the config a detector gives it (`e_args` of an enrichment, the config object of an action),
   * as written, placeholders unfilled, when `blitz check` runs; never per alert. Returns what is wrong,
   * each with its path inside that config. For what fails later at the call but can be known now: a
   * missing query, an unknown database, a URL without a scheme. @default no checks
   */
  check?(config: Record<string, unknown>, ctx: CheckContext): CheckProblem[];
  /** Does the work; the result is recorded and shown to people. */
  run(params: P, ctx: PluginContext): Promise<unknown> | unknown;
}

/** What a channel plugin's `send` receives besides the message. */
export interface ChannelContext {
  /** Aborted at the call's deadline: pass it to every fetch. */
  signal: AbortSignal;
  /** The alert's id and detector. */
  alertId: string;
  detector: string;
  /**
   * The channel's `params` from the global `channels` block, with `${env:}` resolved, plus `api_url`
   * when the channel sets it; validated by the plugin's `params` schema (declare `api_url` in it to
   * keep it).
   */
  settings: Readonly<Record<string, unknown>>;
  /** Short progress or warning line for the operator; secrets are redacted before output. */
  log(message: string): void;
}

/**
 * A channel plugin (`plugin_dirs/<dir>/channels/<file>.ts`): delivers the rendered message somewhere.
 * A channel of `type: <name>` in the global `channels` uses it. Throw to fail the attempt (it is retried
 * with backoff); an error with `transient: false` fails the delivery at once.
 */
export interface ChannelPlugin<P = Record<string, unknown>> {
  /** The channel `type` configs name. */
  name: string;
  aliases?: string[];
  /** Schema of the channel's `params`. */
  params?: z.ZodType<P>;
  /** What the sandbox grants (a channel usually needs `net: ["its.host:443"]`). @default {} */
  permissions?: Permissions;
  /** Deadline per call. @default 10000 */
  timeoutMs?: number;
  /** Delivers one message; the returned value is recorded with the delivery. */
  send(
    message: ChannelMessage,
    ctx: ChannelContext,
  ): Promise<unknown> | unknown;
}

/** A detector module (`detectors/<name>.ts`): the original's `preprocessFlowFileJson` hook. */
export interface DetectorModule {
  /** Detector name, as in the detector config. */
  name: string;
  /** Reshapes an incoming alert before anything else sees it; may return a new object. */
  preprocess?(
    alert: Record<string, unknown>,
  ): Record<string, unknown> | Promise<Record<string, unknown>>;
}

/**
 * Declares an enrichment plugin. Identity helper: returns its argument.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { defineEnrichment } from "./plugin.ts";
 *
 * export default defineEnrichment({
 *   name: "shout",
 *   params: z.object({ text: z.string() }),
 *   positional: ["text"],
 *   run: ({ text }) => ({ loud: text.toUpperCase() }),
 * });
 * ```
 */
export function defineEnrichment<P>(
  plugin: EnrichmentPlugin<P>,
): EnrichmentPlugin<P> {
  return plugin;
}

/**
 * Declares an action plugin. Identity helper: returns its argument.
 *
 * @example
 * ```ts
 * import { defineAction } from "./plugin.ts";
 *
 * export default defineAction({
 *   name: "note",
 *   sideEffects: false,
 *   run: (params) => ({ noted: params }),
 * });
 * ```
 */
export function defineAction<P>(plugin: ActionPlugin<P>): ActionPlugin<P> {
  return plugin;
}

/**
 * Declares a channel plugin. Identity helper: returns its argument.
 *
 * @example
 * ```ts
 * import { defineChannel } from "./plugin.ts";
 *
 * export default defineChannel({
 *   name: "logline",
 *   send: (message, ctx) => ctx.log(`${message.severity ?? "?"}: ${message.title}`),
 * });
 * ```
 */
export function defineChannel<P>(plugin: ChannelPlugin<P>): ChannelPlugin<P> {
  return plugin;
}

/**
 * Declares a detector module. Identity helper: returns its argument.
 *
 * @example
 * ```ts
 * import { defineDetector } from "./plugin.ts";
 *
 * export default defineDetector({
 *   name: "device_1",
 *   preprocess: (alert) => ({ ...alert, ip_src_addr: String(alert.src ?? "") }),
 * });
 * ```
 */
export function defineDetector(module: DetectorModule): DetectorModule {
  return module;
}
