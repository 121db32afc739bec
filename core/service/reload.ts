/**
 * Config reload for `serve` (SIGHUP, `systemctl reload blitz`): loads and validates the config file
 * again; on any problem the running config stays and the problems are returned; on success the
 * runtime's config and plugin registry are swapped in place, so every alert that starts processing
 * afterwards uses them (alerts already being processed finish with the config they started with).
 *
 * Settings that shape what was opened at start-up (the listener, the store, the worker pool, SMTP
 * connections, ingest authentication and limits) keep their running values until a restart; the
 * result names those that changed.
 *
 * @module
 */
import { loadConfig, type LoadedConfig } from "../config/config.ts";
import type { GlobalConfig } from "../config/schema.ts";
import { ConfigError } from "../errors.ts";
import type { Runtime } from "../pipeline/pipeline.ts";
import { loadRegistry, type PluginRegistry } from "../plugins/registry.ts";

/** Global keys a reload cannot apply to a running service. */
export const RESTART_KEYS: readonly (keyof GlobalConfig)[] = [
  "listen",
  "data_dir",
  "store",
  "workers",
  "smtp",
  "delivery",
  "ingest_tokens",
  "ingest_hmac_secret",
  "rate_limit",
  "action_rate_limit",
  "max_body_bytes",
  "max_json_depth",
  "max_backlog",
  "max_connections",
  "header_timeout",
  "idle_timeout",
  "http_threads",
  "plugin_processes_max",
  // The running pools' child processes were started with this heap cap.
  "plugin_memory_mb",
];

/** What a reload did. */
export type ReloadResult =
  | { ok: true; config: LoadedConfig; restartNeeded: string[] }
  | { ok: false; problems: string[] };

/** Options of {@link reloadConfig}. */
export interface ReloadOptions {
  /** Extra checks of the candidate (serve's preflight); problems keep the running config. */
  check?: (candidate: LoadedConfig) => string[];
  /** Environment lookup. @default the process environment (as at start-up) */
  env?: (name: string) => string | undefined;
}

/** Reloads `runtime`'s config file in place; never throws for a bad config. */
export async function reloadConfig(
  runtime: Runtime,
  options: ReloadOptions = {},
): Promise<ReloadResult> {
  let registry: PluginRegistry | undefined;
  let next: LoadedConfig;
  try {
    next = await loadConfig({
      path: runtime.config.file,
      ...(options.env ? { env: options.env } : {}),
      registry: async (
        global,
      ) => (registry = await loadRegistry(global.plugin_dirs, {
        memoryMb: global.plugin_memory_mb,
      })),
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      return { ok: false, problems: err.problems };
    }
    return {
      ok: false,
      problems: [`${runtime.config.file}: (root): ${(err as Error).message}`],
    };
  }
  const problems = options.check?.(next) ?? [];
  if (problems.length) return { ok: false, problems };
  const restartNeeded: string[] = [];
  const running = runtime.config.global as Record<string, unknown>;
  const candidate = next.global as Record<string, unknown>;
  for (const key of RESTART_KEYS) {
    if (JSON.stringify(running[key]) !== JSON.stringify(candidate[key])) {
      restartNeeded.push(key);
      candidate[key] = running[key];
    }
  }
  runtime.config = next;
  runtime.registry = registry!;
  return { ok: true, config: next, restartNeeded };
}
