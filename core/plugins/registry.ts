/**
 * The plugin registry: built-in enrichments and actions (rows of `catalogue.ts`, each imported by its
 * path only when used) plus modules from `plugin_dirs`, imported and validated at start-up. A bad plugin
 * fails loading with its file name and a hint, never per alert.
 *
 * In a plugin dir, top-level files are enrichments, files in its `actions/` subfolder are actions and
 * files in its `channels/` subfolder are channels (`defineChannel`, named as a channel `type`).
 *
 * @module
 */
import type {
  ActionPlugin,
  ChannelPlugin,
  EnrichmentPlugin,
} from "../plugin.ts";
import { SHAREABLE_CONFIG } from "./shareable_config.ts";
import { ConfigError } from "../errors.ts";
import { join, toFileUrl } from "../paths.ts";
import { loadSandboxed } from "./sandbox/sandbox.ts";
import type { PluginEntry } from "./call.ts";
import { importLazy, projectUrl } from "../lazy.ts";
import { CATALOGUE, type CatalogueRow } from "./catalogue.ts";
import { didYouMean } from "../suggest.ts";

export type { PluginEntry } from "./call.ts";

// deno-lint-ignore no-explicit-any
type AnyEnrichment = EnrichmentPlugin<any>;
// deno-lint-ignore no-explicit-any
type AnyAction = ActionPlugin<any>;
// deno-lint-ignore no-explicit-any
type AnyChannel = ChannelPlugin<any>;

/** Lookup of enrichments and actions by name or alias. */
export class PluginRegistry {
  #enrichments = new Map<string, PluginEntry<AnyEnrichment>>();
  #actions = new Map<string, PluginEntry<AnyAction>>();
  #channels = new Map<string, PluginEntry<AnyChannel>>();

  /** Adds an enrichment under its name and aliases; a later entry with the same name wins. */
  addEnrichment(entry: PluginEntry<AnyEnrichment>): void {
    for (const name of [entry.name, ...entry.aliases]) {
      this.#enrichments.set(name, entry);
    }
  }

  /** Adds an action under its name and aliases. */
  addAction(entry: PluginEntry<AnyAction>): void {
    for (const name of [entry.name, ...entry.aliases]) {
      this.#actions.set(name, entry);
    }
  }

  /** Adds a channel plugin (`plugin_dirs/<dir>/channels/`) under its name and aliases. */
  addChannel(entry: PluginEntry<AnyChannel>): void {
    for (const name of [entry.name, ...entry.aliases]) {
      this.#channels.set(name, entry);
    }
  }

  hasChannel(name: string): boolean {
    return this.#channels.has(name);
  }

  /** The channel plugin entry for a name or alias. */
  channel(name: string): PluginEntry<AnyChannel> {
    const entry = this.#channels.get(name);
    if (!entry) throw new RangeError(`Unknown channel plugin "${name}"`);
    return entry;
  }

  hasEnrichment(name: string): boolean {
    return this.#enrichments.has(name);
  }

  hasAction(name: string): boolean {
    return this.#actions.has(name);
  }

  /** The enrichment entry for a name or alias. */
  enrichment(name: string): PluginEntry<AnyEnrichment> {
    const entry = this.#enrichments.get(name);
    if (!entry) throw new RangeError(`Unknown enrichment "${name}"`);
    return entry;
  }

  /** The action entry for a name or alias. */
  action(name: string): PluginEntry<AnyAction> {
    const entry = this.#actions.get(name);
    if (!entry) throw new RangeError(`Unknown action "${name}"`);
    return entry;
  }

  /** Names of all enrichments and actions (with aliases). */
  names(kind: "enrichment" | "action" | "channel"): string[] {
    const map = kind === "enrichment"
      ? this.#enrichments
      : kind === "action"
      ? this.#actions
      : this.#channels;
    return [...map.keys()].sort();
  }

  /** A "; did you mean …? (known: …)" hint for a misspelt name, or " (known: …)". */
  suggest(kind: "enrichment" | "action" | "channel", name: string): string {
    return didYouMean(name, this.names(kind));
  }
}

function memo<T>(fn: () => Promise<T>): () => Promise<T> {
  let promise: Promise<T> | undefined;
  return () => (promise ??= fn());
}

/** The entry of a catalogue row: the module is imported by its path on first use. */
function fromCatalogue<T extends { name: string }>(
  row: CatalogueRow,
): PluginEntry<T> {
  const url = projectUrl(row.path);
  return {
    name: row.name,
    aliases: [...row.aliases],
    url,
    builtin: true,
    checks: row.checks === true,
    load: memo(async () => {
      const plugin = (await importLazy<{ default: T }>(row.path)).default;
      if (plugin.name !== row.name) {
        throw new TypeError(
          `Built-in plugin ${url} is named "${plugin.name}", expected "${row.name}"`,
        );
      }
      return plugin;
    }),
  };
}

/** Checks that a module's default export looks like a plugin; returns a problem message or undefined. */
export function pluginProblem(
  value: unknown,
  kind: "enrichment" | "action",
): string | undefined {
  const helper = kind === "enrichment" ? "defineEnrichment" : "defineAction";
  const hint = `; use "export default ${helper}({ name, run })"`;
  if (!value || typeof value !== "object") {
    return `could not find a default export${hint}`;
  }
  const plugin = value as Record<string, unknown>;
  if (
    typeof plugin.name !== "string" || !/^[A-Za-z_][\w-]*$/.test(plugin.name)
  ) {
    return `default export needs a name made of letters, digits, _ and -${hint}`;
  }
  if (typeof plugin.run !== "function") {
    return `default export "${plugin.name}" needs a run(params, ctx) function${hint}`;
  }
  if (
    plugin.aliases !== undefined &&
    !(Array.isArray(plugin.aliases) &&
      plugin.aliases.every((a) => typeof a === "string"))
  ) {
    return `"${plugin.name}".aliases must be a list of strings`;
  }
  if (
    plugin.params !== undefined &&
    typeof (plugin.params as { safeParse?: unknown }).safeParse !== "function"
  ) {
    return `"${plugin.name}".params must be a zod schema`;
  }
  if (
    plugin.positional !== undefined &&
    !(Array.isArray(plugin.positional) &&
      plugin.positional.every((a) => typeof a === "string"))
  ) {
    return `"${plugin.name}".positional must be a list of strings`;
  }
  if (
    plugin.timeoutMs !== undefined &&
    !(typeof plugin.timeoutMs === "number" && plugin.timeoutMs > 0)
  ) {
    return `"${plugin.name}".timeoutMs must be a positive number`;
  }
  if (
    plugin.permissions !== undefined &&
    (typeof plugin.permissions !== "object" || plugin.permissions === null)
  ) {
    return `"${plugin.name}".permissions must be an object like { net: ["api.example.com"] }`;
  }
  return readsProblem(plugin.name, plugin.reads);
}

/** What is wrong with a plugin's `reads`, if anything: only the shareable config may be named. */
function readsProblem(name: string, reads: unknown): string | undefined {
  if (reads === undefined) return undefined;
  const example = `{ global: ["databases"] }`;
  if (typeof reads !== "object" || reads === null || Array.isArray(reads)) {
    return `"${name}".reads must be an object like ${example}`;
  }
  for (const [where, keys] of Object.entries(reads)) {
    const allowed: readonly string[] | undefined =
      SHAREABLE_CONFIG[where as keyof typeof SHAREABLE_CONFIG];
    if (!allowed) {
      return `"${name}".reads.${where}: unknown section; use "global" or "detector"`;
    }
    if (!Array.isArray(keys)) {
      return `"${name}".reads.${where} must be a list like ${example}`;
    }
    const bad = keys.find((key) => !allowed.includes(key));
    if (bad !== undefined) {
      return `"${name}".reads.${where}: ${
        JSON.stringify(bad)
      } cannot be shared with plugins; allowed: ${allowed.join(", ")}`;
    }
  }
  return undefined;
}

/**
 * The fix for a load error: a plugin's module (its top-level code and imports) is loaded in a sandbox
 * that may only read its own folder and `core/`, under the heap cap and a deadline.
 */
function loadHint(message: string, memoryMb: number | undefined): string {
  if (/^permission denied: read access/.test(message)) {
    return "; a plugin module may import only files in its own folder, core/ and npm: packages, and its top-level code reads nothing: move the read into run() and declare it in permissions.read";
  }
  if (/^permission denied: (\w+) access/.test(message)) {
    const kind = /^permission denied: (\w+)/.exec(message)![1];
    return `; a plugin's top-level code runs with no permissions: move that access into run() and declare it in permissions.${kind}`;
  }
  if (/out of memory/.test(message)) {
    return `; its top-level code allocated past plugin_memory_mb (${
      memoryMb ?? 128
    } MB): move the work into run() or raise plugin_memory_mb`;
  }
  if (/^loading .* timed out/.test(message)) {
    return "; its top-level code must finish loading: move long or endless work into run()";
  }
  if (/^Module not found/.test(message)) {
    return "; check the import path (relative to the plugin's file)";
  }
  return "";
}

const HELPERS = {
  enrichment: "defineEnrichment({ name, run })",
  action: "defineAction({ name, run })",
  channel: "defineChannel({ name, send })",
} as const;

async function importPlugin(
  file: string,
  kind: "enrichment" | "action" | "channel",
  problems: string[],
  memoryMb: number | undefined,
) {
  const url = toFileUrl(file).href;
  let plugin: unknown;
  try {
    // Custom plugins are imported inside a sandbox worker, so not even their top-level code runs with
    // this process's permissions; the registry keeps a stand-in that only the sandbox can call.
    plugin = await loadSandboxed(url, memoryMb ? { memoryMb } : {});
  } catch (err) {
    const message = (err as Error).message.split("\n")[0]!.replace(/\.$/, "");
    problems.push(
      /^could not find a default export/.test(message)
        ? `${file}: (plugin): ${message}; use "export default ${HELPERS[kind]}"`
        : `${file}: (plugin): cannot import: ${message}${
          loadHint(message, memoryMb)
        }`,
    );
    return undefined;
  }
  const problem = pluginProblem(plugin, kind === "channel" ? "action" : kind);
  if (problem) {
    problems.push(`${file}: (plugin): ${problem}`);
    return undefined;
  }
  const loaded = plugin as {
    name: string;
    aliases?: string[];
    hasCheck?: boolean;
  };
  return {
    name: loaded.name,
    aliases: loaded.aliases ?? [],
    url,
    builtin: false,
    checks: loaded.hasCheck === true,
    load: () => Promise.resolve(loaded),
  };
}

async function pluginFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (
        entry.isFile && /\.(ts|js|mjs)$/.test(entry.name) &&
        !/(_test|\.d)\.(ts|js|mjs)$/.test(entry.name) &&
        !entry.name.startsWith("_")
      ) {
        files.push(join(dir, entry.name));
      }
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
  return files.sort();
}

/**
 * Builds the registry: built-ins, then every module of each plugin dir (which may override a built-in),
 * each loaded in a sandbox process capped at `memoryMb` (`plugin_memory_mb`).
 */
export async function loadRegistry(
  pluginDirs: string[] = [],
  options: { memoryMb?: number } = {},
): Promise<PluginRegistry> {
  const registry = new PluginRegistry();
  for (const row of CATALOGUE) {
    if (row.kind === "enrichment") {
      registry.addEnrichment(fromCatalogue<AnyEnrichment>(row));
    } else registry.addAction(fromCatalogue<AnyAction>(row));
  }
  const problems: string[] = [];
  for (const dir of pluginDirs) {
    try {
      await Deno.stat(dir);
    } catch {
      problems.push(`${dir}: (plugin_dirs): folder does not exist`);
      continue;
    }
    for (const file of await pluginFiles(dir)) {
      const entry = await importPlugin(
        file,
        "enrichment",
        problems,
        options.memoryMb,
      );
      if (entry) registry.addEnrichment(entry as PluginEntry<AnyEnrichment>);
    }
    for (const file of await pluginFiles(join(dir, "actions"))) {
      const entry = await importPlugin(
        file,
        "action",
        problems,
        options.memoryMb,
      );
      if (entry) registry.addAction(entry as PluginEntry<AnyAction>);
    }
    for (const file of await pluginFiles(join(dir, "channels"))) {
      const entry = await importPlugin(
        file,
        "channel",
        problems,
        options.memoryMb,
      );
      if (entry) registry.addChannel(entry as PluginEntry<AnyChannel>);
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return registry;
}
