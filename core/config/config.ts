/**
 * Loads the global config and the detector files, substitutes `${env:NAME}`, validates everything
 * once at start-up, and reports each problem as `<file>: <detector>.<path>: <message>`. The full
 * load (`validate.ts`, with the schemas and the YAML parser) is imported on first use; with `cache`
 * an unchanged config comes from the config cache in data_dir instead (`_cache.ts`).
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import type { GlobalConfig } from "./schema.ts";
import { resolve } from "../paths.ts";
import { permissionHint } from "../permissions.ts";
import { importLazy } from "../lazy.ts";
import { DEFAULT_COLORS } from "./_button_checks.ts";
import { cachedConfig, writeConfigCache } from "./_cache.ts";
import type { LoadConfigOptions, LoadedConfig } from "./_loaded.ts";

export { DEFAULT_COLORS } from "./_button_checks.ts";
export type { EnrichmentBlock, LoadedDetector } from "./_detector_checks.ts";
export type { LoadConfigOptions, LoadedConfig } from "./_loaded.ts";
export { formatPath } from "./_problems.ts";
export type { ChannelConfig } from "./channels.ts";

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

/** The global config file's text; a missing or unreadable file is a ConfigError. */
async function readConfigText(file: string): Promise<string> {
  try {
    return await Deno.readTextFile(file);
  } catch (err) {
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
}

/** Loads and validates the global config and its detectors; throws ConfigError listing every problem. */
export async function loadConfig(
  options: LoadConfigOptions = {},
): Promise<LoadedConfig> {
  const env = options.env ?? readEnv;
  const file = configPath(options.path, env);
  const text = await readConfigText(file);
  let registry = options.registry;
  if (options.cache) {
    const lookup = await cachedConfig(file, text, env, options);
    if ("config" in lookup) return lookup.config;
    if (lookup.registry) registry = lookup.registry;
  }
  // With the cache, the variables the load looks up are part of the cache's key.
  const looked = new Map<string, string | undefined>();
  const lookup = options.cache
    ? (name: string) => {
      const value = env(name);
      looked.set(name, value);
      return value;
    }
    : env;
  const { validateConfig } = await importLazy<
    typeof import("./validate.ts")
  >("core/config/validate.ts");
  const { config, sources } = await validateConfig(file, text, lookup, {
    ...options,
    ...(registry ? { registry } : {}),
  });
  if (options.cache) {
    await writeConfigCache(config, text, sources, looked, options.only);
  }
  return config;
}

/** Resolves a button color name to hex through `mail_colors` and the defaults. */
export function colorOf(config: GlobalConfig, color: string): string {
  if (color.startsWith("#")) return color;
  return config.mail_colors[color] ?? DEFAULT_COLORS[color] ??
    DEFAULT_COLORS.blue!;
}
