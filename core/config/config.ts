/**
 * Loads the global config and the detector files, substitutes `${env:NAME}`, validates everything
 * once at start-up, and reports each problem as `<file>: <detector>.<path>: <message>`.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import { type GlobalConfig, GlobalConfigSchema } from "./schema.ts";
import type { PluginRegistry } from "../plugins/registry.ts";
import { substituteEnv } from "../secrets.ts";
import { dirname, isAbsolute, join, resolve } from "../paths.ts";
import {
  DEFAULT_COLORS,
  loadDetectors,
  type LoadedDetector,
} from "./_detectors.ts";
import { readStructured } from "./_files.ts";
import { literalSecrets, zodProblems } from "./_problems.ts";
import { type ChannelConfig, checkChannels } from "./channels.ts";
import { permissionHint } from "../permissions.ts";
import { checkSmtpUrl } from "../delivery/delivery.ts";

export {
  DEFAULT_COLORS,
  type EnrichmentBlock,
  type LoadedDetector,
} from "./_detectors.ts";
export { formatPath } from "./_problems.ts";
export type { ChannelConfig } from "./channels.ts";

/** The whole validated configuration. */
export interface LoadedConfig {
  file: string;
  dir: string;
  global: GlobalConfig;
  /** The global `channels`, validated by type (email is not one of them). */
  channels: Map<string, ChannelConfig>;
  detectors: Map<string, LoadedDetector>;
  /** Non-fatal findings, e.g. a literal secret in a committed file. */
  warnings: string[];
}

/** Options of `loadConfig`. */
export interface LoadConfigOptions {
  /** Config file path. @default `BLITZ_CONFIG`, else `blitz.yaml` in the working directory */
  path?: string | undefined;
  /** Environment lookup. @default readEnv (Deno.env.get; a denied variable becomes a config problem) */
  env?: (name: string) => string | undefined;
  /** Plugins to validate `e_func` and action names against (or a loader given the global config). */
  registry?:
    | PluginRegistry
    | ((global: GlobalConfig) => Promise<PluginRegistry>);
  /** Load and validate only this detector (fast path for one CLI ingest). @default all */
  only?: string | undefined;
}

/**
 * Reads an environment variable; one the process may not read (its `--allow-env` list) is a config
 * error naming the flag, not a crash.
 */
function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch (err) {
    if (
      err instanceof Deno.errors.NotCapable ||
      err instanceof Deno.errors.PermissionDenied
    ) {
      throw new ConfigError([
        `Cannot read environment variable ${name}: add it to --allow-env`,
      ]);
    }
    throw err;
  }
}

/** Finds the config path from the option, `BLITZ_CONFIG`, or `blitz.yaml`. */
export function configPath(
  path: string | undefined,
  env: (name: string) => string | undefined,
): string {
  return resolve(path ?? env("BLITZ_CONFIG") ?? "blitz.yaml");
}

/** Loads and validates the global config and its detectors; throws ConfigError listing every problem. */
export async function loadConfig(
  options: LoadConfigOptions = {},
): Promise<LoadedConfig> {
  const env = options.env ?? readEnv;
  const file = configPath(options.path, env);
  let raw: unknown;
  try {
    raw = await readStructured(file);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    if (err instanceof Deno.errors.NotFound) {
      throw new ConfigError([
        `${file}: (root): config file not found (use --config <path> or BLITZ_CONFIG)`,
      ]);
    }
    throw new ConfigError([
      `${file}: (root): cannot read: ${
        permissionHint(err) ?? (err as Error).message
      }`,
    ]);
  }
  const problems: string[] = [];
  const substituted = substituteEnv(raw, {
    env,
    onMissing: (name, path) =>
      problems.push(
        `${file}: ${path || "(root)"}: environment variable ${name} is not set`,
      ),
  });
  const parsed = GlobalConfigSchema.safeParse(substituted);
  if (!parsed.success) problems.push(...zodProblems(file, "", parsed.error));
  if (problems.length) throw new ConfigError(problems);
  const global = parsed.data!;
  const dir = dirname(file);
  const at = (p: string) => (isAbsolute(p) ? p : join(dir, p));
  global.detectors_dir = at(global.detectors_dir);
  global.data_dir = at(global.data_dir);
  global.plugin_dirs = global.plugin_dirs.map(at);
  const registry = typeof options.registry === "function"
    ? await options.registry(global)
    : options.registry;
  const config: LoadedConfig = {
    file,
    dir,
    global,
    channels: checkChannels(file, global.channels, {
      // Without a registry (a bare config check) any type may be a plugin's: only built-ins are checked.
      pluginTypes: registry?.names("channel") ?? [],
      anyPlugin: registry === undefined,
      problems,
    }),
    detectors: new Map(),
    warnings: literalSecrets(raw, file),
  };
  if (global.smtp !== undefined) {
    const smtp = checkSmtpUrl(global.smtp);
    if (smtp.problem) problems.push(`${file}: smtp: ${smtp.problem}`);
    if (smtp.warning) config.warnings.push(`${file}: smtp: ${smtp.warning}`);
  }
  await loadDetectors(config, env, { ...options, registry }, problems);
  if (
    options.only !== undefined && !config.detectors.has(options.only) &&
    problems.length === 0
  ) {
    throw new ConfigError([
      `Unknown detector "${options.only}": no detector of that name in ${global.detectors_dir}`,
    ]);
  }
  if (problems.length) throw new ConfigError(problems);
  return config;
}

/** Resolves a button color name to hex through `mail_colors` and the defaults. */
export function colorOf(config: GlobalConfig, color: string): string {
  if (color.startsWith("#")) return color;
  return config.mail_colors[color] ?? DEFAULT_COLORS[color] ??
    DEFAULT_COLORS.blue!;
}
