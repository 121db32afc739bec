/**
 * The loaded config's types, and the checks every load ends with, whether the config was validated
 * now (`validate.ts`) or served from the config cache (`_cache.ts`): the `smtp` URL and the `only`
 * detector. No zod here.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import type { GlobalConfig } from "./schema.ts";
import type { PluginRegistry } from "../plugins/registry.ts";
import type { ChannelConfig } from "./channels.ts";
import type { LoadedDetector } from "./_detector_checks.ts";
import { checkSmtpUrl } from "../delivery/delivery.ts";

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
  /**
   * Serve the validated config from the cache in data_dir when no file it was read from has changed,
   * and write it there after a full load (`_cache.ts`; one CLI ingest per alert). @default false
   */
  cache?: boolean;
}

/** The `smtp` URL's problem and warning (not cached: `smtp` is often `${env:…}`). */
export function smtpChecks(config: LoadedConfig, problems: string[]): void {
  if (config.global.smtp === undefined) return;
  const smtp = checkSmtpUrl(config.global.smtp);
  if (smtp.problem) problems.push(`${config.file}: smtp: ${smtp.problem}`);
  if (smtp.warning) {
    config.warnings.push(`${config.file}: smtp: ${smtp.warning}`);
  }
}

/** An `only` detector that is not in the config is an error of its own (when nothing else is wrong). */
export function onlyCheck(
  config: LoadedConfig,
  only: string | undefined,
  problems: string[],
): void {
  if (
    only !== undefined && !config.detectors.has(only) && problems.length === 0
  ) {
    throw new ConfigError([
      `Unknown detector "${only}": no detector of that name in ${config.global.detectors_dir}`,
    ]);
  }
}
