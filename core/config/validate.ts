/**
 * The full load of a config: the global file and the detector files read and parsed, `${env:NAME}`
 * substituted, every part validated by its schema and checked (`_detectors.ts`, `channels.ts`). What it
 * read and validated comes back with the config, for the config cache (`_cache.ts`). Loaded lazily by
 * `config.ts`: a config served from the cache never loads the schemas (zod's object construction) or
 * the YAML parser.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import { GlobalConfigSchema } from "./schema.ts";
import type { PluginRegistry } from "../plugins/registry.ts";
import { substituteEnv } from "../secrets.ts";
import { dirname, isAbsolute, join } from "../paths.ts";
import { type DetectorSources, loadDetectors } from "./_detectors.ts";
import { parseStructured } from "./_files.ts";
import { literalSecrets, zodProblems } from "./_problems.ts";
import { checkChannels } from "./channels.ts";
import {
  type LoadConfigOptions,
  type LoadedConfig,
  onlyCheck,
  smtpChecks,
} from "./_loaded.ts";

/** What a full load read and validated besides the config (see `_cache.ts`). */
export interface LoadSources {
  /** The global file's raw parse (before substitution) and its own warnings. */
  raw: unknown;
  globalWarnings: string[];
  detectors: DetectorSources;
  registry: PluginRegistry | undefined;
}

/** Validates the global file `file` (its `text`) and its detectors; throws ConfigError listing every problem. */
export async function validateConfig(
  file: string,
  text: string,
  env: (name: string) => string | undefined,
  options: LoadConfigOptions,
): Promise<{ config: LoadedConfig; sources: LoadSources }> {
  const raw = await parseStructured(file, text);
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
  const globalWarnings = literalSecrets(raw, file);
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
    warnings: [...globalWarnings],
  };
  smtpChecks(config, problems);
  const detectors = await loadDetectors(
    config,
    env,
    { ...options, registry },
    problems,
  );
  onlyCheck(config, options.only, problems);
  if (problems.length) throw new ConfigError(problems);
  return { config, sources: { raw, globalWarnings, detectors, registry } };
}
