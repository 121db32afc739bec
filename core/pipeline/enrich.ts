/**
 * The enrichment runner: every enabled enrichment of an alert runs concurrently under its own deadline;
 * an error or timeout becomes that enrichment's result and never aborts the alert. Results are cached
 * per (enrichment, params, config) with a TTL, and identical concurrent calls share one in-flight call.
 *
 * @module
 */
import type { EnrichmentEntry } from "../config/schema.ts";
import {
  inProcessInvoker,
  type Invoker,
  TimeoutError,
} from "../plugins/call.ts";
import { formatDuration } from "../duration.ts";
import { capJson, type Json, stringifyJson, toJson } from "../json.ts";

import type { ConfigReads, EnrichmentPlugin } from "../plugin.ts";
import type { PluginRegistry } from "../plugins/registry.ts";
import { publicError } from "../secrets.ts";
import type { EnrichmentResult } from "../store/store.ts";
import { fillDeep, lookup } from "../template.ts";
import { sha256Hex } from "../sha256.ts";

/**
 * Results larger than this (as JSON text) are stored cut to what the email shows (`capJson`), with
 * `truncated` holding their full size: a 30 MB result once went into the WAL whole (RSS 81 → 390 MB).
 */
export const MAX_STORED_RESULT_CHARS = 256 * 1024;

function storedData(data: Json): { data: Json; truncated?: number } {
  const size = stringifyJson(data).length;
  return size > MAX_STORED_RESULT_CHARS
    ? { data: capJson(data), truncated: size }
    : { data };
}

export { inProcessInvoker, type Invoker } from "../plugins/call.ts";

// deno-lint-ignore no-explicit-any
type AnyEnrichment = EnrichmentPlugin<any>;

interface CacheEntry {
  expires: number;
  value: unknown;
}

/** Results cache with TTL and in-flight sharing; bounded (oldest entries evicted first). */
export class EnrichmentCache {
  #entries = new Map<string, CacheEntry>();
  #inflight = new Map<string, Promise<unknown>>();
  #max: number;
  #now: () => number;
  /** Backend calls made (cache misses that ran the plugin), for metrics and benchmarks. */
  calls = 0;
  hits = 0;

  constructor(options: { max?: number; now?: () => number } = {}) {
    this.#max = options.max ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** Returns a cached value, joins an in-flight call, or runs `fn` (caching its success for ttlMs). */
  async get(
    key: string,
    ttlMs: number,
    fn: () => Promise<unknown>,
  ): Promise<{ value: unknown; cached: boolean }> {
    const hit = this.#entries.get(key);
    if (hit && hit.expires > this.#now()) {
      this.hits++;
      return { value: hit.value, cached: true };
    }
    if (hit) this.#entries.delete(key);
    const pending = this.#inflight.get(key);
    if (pending) {
      this.hits++;
      return { value: await pending, cached: true };
    }
    this.calls++;
    const promise = fn();
    this.#inflight.set(key, promise);
    try {
      const value = await promise;
      if (ttlMs > 0) {
        if (this.#entries.size >= this.#max) {
          this.#entries.delete(this.#entries.keys().next().value!);
        }
        this.#entries.set(key, { expires: this.#now() + ttlMs, value });
      }
      return { value, cached: false };
    } finally {
      this.#inflight.delete(key);
    }
  }

  clear(): void {
    this.#entries.clear();
  }
}

/** Stable JSON: object keys sorted, so equal params give equal cache keys. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const keys = Object.keys(value).sort();
    return `{${
      keys.map((k) =>
        `${JSON.stringify(k)}:${
          canonicalJson((value as Record<string, unknown>)[k])
        }`
      ).join(",")
    }}`;
  }
  return stringifyJson(value);
}

const configHashes = new Map<string, string>();

/** SHA-256 of a config's canonical JSON, memoised (configs are few; calls are many). */
function hashOnce(text: string): string {
  let hash = configHashes.get(text);
  if (!hash) {
    if (configHashes.size >= 1_000) configHashes.clear();
    configHashes.set(text, hash = sha256Hex(text));
  }
  return hash;
}

/** What the runner needs besides the entries. */
export interface EnrichmentRun {
  alert: Record<string, unknown>;
  alertId: string;
  detector: string;
  registry: PluginRegistry;
  cache: EnrichmentCache;
  /** Settings handed to a plugin: `plugins.<name>` and the config its `reads` declares. */
  settingsFor(
    plugin: { name: string; reads?: ConfigReads | undefined },
  ): Record<string, unknown>;
  defaults: { timeoutMs: number; ttlMs: number };
  invoker?: Invoker;
  /** Told of every placeholder left unfilled in an entry's `e_args` (`where` names the entry). */
  onMissing?(where: string, placeholder: string): void;
  /** Called once per finished enrichment (metrics). */
  onResult?(result: EnrichmentResult): void;
}

/** Runs the entries concurrently; the results keep the entries' order. */
export function runEnrichments(
  entries: EnrichmentEntry[],
  run: EnrichmentRun,
): Promise<EnrichmentResult[]> {
  return Promise.all(entries.map(async (entry) => {
    const result = await runOne(entry, run);
    run.onResult?.(result);
    return result;
  }));
}

async function runOne(
  entry: EnrichmentEntry,
  run: EnrichmentRun,
): Promise<EnrichmentResult> {
  const base = { name: entry.e_name, func: entry.e_func };
  if (!entry.enabled) return { ...base, status: "skipped", ms: 0 };
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  let timeoutMs = entry.timeout ?? run.defaults.timeoutMs;
  try {
    const pluginEntry = run.registry.enrichment(entry.e_func);
    const plugin = await pluginEntry.load();
    timeoutMs = entry.timeout ?? plugin.timeoutMs ?? run.defaults.timeoutMs;
    const args = entry.e_key.split(",").map((k) => k.trim()).filter(Boolean)
      .map((k) => lookup(run.alert, k));
    const named: Record<string, unknown> = {};
    (plugin.positional ?? []).forEach((name, i) => {
      if (args[i] !== undefined) named[name] = args[i];
    });
    // Typed: a whole-string placeholder keeps its JSON type; as text again if the plugin wants strings.
    const missing: string[] = [];
    const eArgs = plugin.fillArgs === false
      ? entry.e_args
      : fillDeep(entry.e_args, run.alert, { typed: true, missing });
    for (const m of missing) run.onMissing?.(`enrichment "${entry.e_name}"`, m);
    const rawParams = { ...named, ...eArgs };
    let params: unknown = rawParams;
    if (plugin.params) {
      let parsed = plugin.params.safeParse(rawParams);
      if (!parsed.success && plugin.fillArgs !== false) {
        const second = plugin.params.safeParse({
          ...named,
          ...fillDeep(entry.e_args, run.alert),
        });
        if (second.success) parsed = second;
      }
      if (!parsed.success) {
        const detail = parsed.error.issues.map((i) =>
          `${i.path.join(".") || "params"}: ${i.message}`
        ).join("; ");
        throw new TypeError(`invalid params: ${detail}`);
      }
      params = parsed.data;
    }
    const settings = run.settingsFor(plugin);
    const ctx = {
      alert: run.alert,
      alertId: run.alertId,
      detector: run.detector,
      args,
      settings,
    };
    // The call's own values stay verbatim in the key (no collision an alert could craft); the
    // entry's config and the plugin settings enter as a SHA-256, computed once per distinct config.
    const configHash = hashOnce(
      canonicalJson({ e_args: entry.e_args, settings }),
    );
    const key = `${plugin.name}:${configHash}:${
      canonicalJson({ params, args })
    }`;
    const ttl = entry.ttl ?? run.defaults.ttlMs;
    const invoker = run.invoker ?? inProcessInvoker;
    const { value, cached } = await run.cache.get(
      key,
      ttl,
      () =>
        invoker.invoke(pluginEntry, plugin, params, ctx, {
          timeoutMs,
          enrichment: entry,
        }),
    );
    return {
      ...base,
      status: "ok",
      ms: ms(),
      ...storedData(toJson(value)),
      ...(cached ? { cached } : {}),
    };
  } catch (err) {
    if (
      err instanceof TimeoutError || (err as Error)?.name === "TimeoutError"
    ) {
      return {
        ...base,
        status: "timeout",
        ms: ms(),
        // The sandbox says what it did ("plugin timed out after 5 s and was killed").
        error: /timed out after/.test((err as Error).message ?? "")
          ? publicError(err)
          : `timed out after ${formatDuration(timeoutMs)}`,
      };
    }
    return {
      ...base,
      status: "error",
      ms: ms(),
      error: publicError(err),
    };
  }
}
