/** Builds the pipeline's runtime from the config: registry, store, delivery and cache. */
import { loadConfig, type LoadedConfig } from "../config/config.ts";
import { createDelivery } from "../delivery/delivery.ts";
import { EnrichmentCache } from "../pipeline/enrich.ts";
import type { Logger } from "../log.ts";
import type { Runtime } from "../pipeline/pipeline.ts";
import { loadRegistry, type PluginRegistry } from "../plugins/registry.ts";
import { openSqliteStore } from "../store/sqlite/sqlite.ts";
import { importLazy } from "../lazy.ts";
import { createSandboxInvoker } from "../plugins/sandbox/sandbox.ts";
import { withLimits } from "../pipeline/limits.ts";
import { join } from "../paths.ts";
import { ConfigError } from "../errors.ts";
import { permissionHint } from "../permissions.ts";

/** Options of `createRuntime`. */
export interface RuntimeOptions {
  /** Config path. @default BLITZ_CONFIG, else blitz.yaml */
  configPath?: string | undefined;
  /** Load only this detector (one CLI ingest). @default all */
  only?: string | undefined;
  /** Use the config cache in data_dir (see `loadConfig`'s `cache`). @default false */
  cacheConfig?: boolean;
  log: Logger;
  /** Open the store and delivery. @default true */
  io?: boolean;
  /** Check the SQLite store's integrity (`PRAGMA quick_check`) as it opens (`serve`). @default false */
  checkStore?: boolean;
  clock?: () => Date;
  /** Environment lookup for `${env:NAME}` and `BLITZ_CONFIG`. @default Deno.env (see `loadConfig`) */
  env?: (name: string) => string | undefined;
}

/** Loads plugins and config (throws ConfigError), then opens the store and delivery. */
export async function createRuntime(options: RuntimeOptions): Promise<Runtime> {
  let registry: PluginRegistry | undefined;
  const config: LoadedConfig = await loadConfig({
    path: options.configPath,
    only: options.only,
    cache: options.cacheConfig ?? false,
    ...(options.env ? { env: options.env } : {}),
    registry: async (
      global,
    ) => (registry = await loadRegistry(global.plugin_dirs, {
      memoryMb: global.plugin_memory_mb,
    })),
  });
  for (const warning of config.warnings) {
    options.log("config_warning", { warning });
  }
  const io = options.io ?? true;
  const store = io
    ? await openStore(config, options.checkStore ?? false)
    : nullStore();
  const delivery = io
    ? createDelivery({
      smtp: config.global.smtp,
      dataDir: config.global.data_dir,
      timeoutMs: config.global.delivery.timeout,
      connections: config.global.delivery.connections,
    })
    : {
      send: () => Promise.reject(new Error("Delivery is disabled")),
      close: () => Promise.resolve(),
    };
  // Every plugin_dirs plugin runs in child processes granted only its declared permissions, killed at
  // its deadline and capped at plugin_memory_mb; built-in enrichments in workers. In the single-file
  // bundle the built-ins' module files do not exist next to it, so they run in this process there.
  const bundled = !import.meta.url.endsWith("/core/service/runtime.ts");
  const sandbox = createSandboxInvoker({
    poolSize: 2,
    memoryMb: config.global.plugin_memory_mb,
    maxProcesses: config.global.plugin_processes_max,
    builtins: bundled ? "in-process" : "sandbox",
    log: (line) => options.log("sandbox", { message: line }),
  });
  const limits = withLimits(sandbox);
  return {
    config,
    registry: registry!,
    store,
    delivery,
    cache: new EnrichmentCache(),
    log: options.log,
    invoker: limits,
    sandbox,
    limits,
    ...(options.clock ? { clock: options.clock } : {}),
  };
}

/** Closes what a runtime opened (`exiting`: the process ends right after; see `Store.close`). */
export async function closeRuntime(
  runtime: Runtime,
  options?: { exiting?: boolean },
): Promise<void> {
  await runtime.sandbox?.close();
  await runtime.delivery.close();
  await runtime.store.close(options);
}

/**
 * Opens the configured store: SQLite in data_dir (a data_dir the process may not write is a config
 * error naming it), or PostgreSQL at `store.url` (migrated under an advisory lock).
 */
export async function openStore(
  config: LoadedConfig,
  quickCheck = false,
): Promise<Runtime["store"]> {
  const { store } = config.global;
  if (store.backend === "postgres") {
    // Imported only here: the postgres client loads node:net, tls, crypto, dns and fs, ~50 ms of a
    // cold CLI ingest that uses SQLite.
    const { openPostgresStore } = await importLazy<
      typeof import("../store/postgres/postgres.ts")
    >("core/store/postgres/postgres.ts");
    return await openPostgresStore(store.url!);
  }
  try {
    return openSqliteStore(join(config.global.data_dir, "blitz.db"), {
      quickCheck,
    });
  } catch (err) {
    const hint = permissionHint(err);
    if (hint) throw new ConfigError([`${config.file}: data_dir: ${hint}`]);
    throw err;
  }
}

function nullStore(): Runtime["store"] {
  const no = () => Promise.reject(new Error("The store is not open"));
  return {
    insertAlerts: no,
    insertAlertsIdempotent: no,
    getAlert: no,
    updateAlert: no,
    listAlerts: no,
    listAlertGroups: no,
    listAcks: no,
    backlog: no,
    claimNext: no,
    claimBatch: no,
    requeueStale: no,
    consumeNonce: no,
    finishActionRun: no,
    listActionRuns: no,
    insertDeliveries: no,
    claimDeliveries: no,
    updateDelivery: no,
    listDeliveries: no,
    redeliver: no,
    listRedeliveries: no,
    storm: {
      decide: no,
      silenced: no,
      breaker: no,
      breakerTick: no,
      flushGroup: no,
      window: no,
      windows: no,
      ack: no,
      unack: no,
      schedule: no,
      claimTimers: no,
      finishTimer: no,
      addSilence: no,
      getSilence: no,
      listSilences: no,
      expireSilence: no,
      suppressedCounts: no,
    },
    ping: () => Promise.resolve(false),
    close: () => Promise.resolve(),
  };
}
