/**
 * Plugin contexts and params for enrichment and action unit tests: what the pipeline would hand a
 * plugin's `run()`, with neutral defaults for everything a test does not set.
 *
 * @example
 * ```ts
 * import plugin from "../enrichments/reverse_dns.ts";
 * import { parseParams, pluginContext } from "./_plugin.ts";
 *
 * await plugin.run(
 *   parseParams(plugin, { ip: "192.0.2.1" }),
 *   pluginContext({ settings: { nameserver: "127.0.0.1:5353" } }),
 * );
 * ```
 *
 * @module
 */
import assert from "node:assert/strict";
import type { z } from "zod";
import type { PluginContext } from "../core/plugin.ts";

/** What a test sets on a {@link PluginContext}; the rest gets a neutral default. */
export interface ContextOptions {
  /** The alert. @default {} */
  alert?: Record<string, unknown> | undefined;
  /** The plugin's settings (`plugins.<name>`). @default {} */
  settings?: Record<string, unknown> | undefined;
  /** Positional values from `e_key`. @default [] */
  args?: unknown[] | undefined;
  /** The call's deadline signal. @default a signal that never aborts */
  signal?: AbortSignal | undefined;
}

/** A plugin context for detector "test" and alert "a1" whose `log()` discards its lines. */
export function pluginContext(options: ContextOptions = {}): PluginContext {
  return {
    signal: options.signal ?? new AbortController().signal,
    alert: options.alert ?? {},
    detector: "test",
    alertId: "a1",
    args: options.args ?? [],
    settings: options.settings ?? {},
    log() {},
  };
}

/** Parses `input` with the plugin's params schema, failing the test with zod's issues when it does not parse. */
export function parseParams<P>(
  plugin: { params?: z.ZodType<P> },
  input: Record<string, unknown>,
): P {
  const parsed = plugin.params!.safeParse(input);
  assert.ok(
    parsed.success,
    parsed.success ? "" : JSON.stringify(parsed.error.issues),
  );
  return parsed.data;
}
