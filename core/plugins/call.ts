/**
 * Calling plugin code: the registry's entry of a plugin, the invoker interface (in-process here, in a
 * Worker in `sandbox/sandbox.ts`) and the call under a deadline.
 *
 * @module
 */
import { formatDuration } from "../duration.ts";
import type { EnrichmentEntry } from "../config/schema.ts";
import type { EnrichmentPlugin, PluginContext } from "../plugin.ts";
import { redact } from "../secrets.ts";
import { after } from "../timers.ts";

export { errorMessage } from "../errors.ts";

/** A plugin the registry knows, loaded on first use. */
export interface PluginEntry<T> {
  name: string;
  aliases: string[];
  /** Module URL (the sandbox loads it in a worker). */
  url: string;
  builtin: boolean;
  /** It has a `check` hook for `blitz check` (built-ins declare it in their catalogue row). */
  checks?: boolean;
  load(): Promise<T>;
}

// deno-lint-ignore no-explicit-any
type AnyEnrichment = EnrichmentPlugin<any>;

/** Runs one plugin call; the default runs in-process, the sandbox runs it in a Worker. */
export interface Invoker {
  invoke(
    entry: PluginEntry<AnyEnrichment>,
    plugin: AnyEnrichment,
    params: unknown,
    ctx: Omit<PluginContext, "signal" | "log">,
    options: {
      timeoutMs: number;
      /** The detector's enrichment entry this call is for (rate limits and quotas read it). */
      enrichment?: EnrichmentEntry;
    },
  ): Promise<unknown>;
}

/** Calls the plugin in this process under a deadline. */
export const inProcessInvoker: Invoker = {
  invoke: (_entry, plugin, params, ctx, { timeoutMs }) =>
    callWithDeadline(plugin, params, ctx, timeoutMs),
};

/** Raised when a call passes its deadline. */
export class TimeoutError extends Error {
  override name = "TimeoutError";
}

/** A plugin: something with a name and a run function. */
export interface Callable {
  name: string;
  run(params: never, ctx: PluginContext): unknown;
}

/**
 * Runs `plugin.run(params, ctx)` in this process under a deadline: on overrun the signal aborts and the
 * call rejects with TimeoutError (code that ignores its signal is abandoned; the sandbox can kill it).
 */
export async function callWithDeadline(
  plugin: Callable,
  params: unknown,
  ctx: Omit<PluginContext, "signal" | "log">,
  timeoutMs: number,
): Promise<unknown> {
  const controller = new AbortController();
  let cancel: (() => void) | undefined;
  const deadline = new Promise<never>((_, reject) => {
    cancel = after(timeoutMs, () => {
      const err = new TimeoutError(
        `timed out after ${formatDuration(timeoutMs)}`,
      );
      controller.abort(err);
      reject(err);
    });
  });
  const log = (m: string) => console.error(redact(`[${plugin.name}] ${m}`));
  try {
    return await Promise.race([
      Promise.resolve().then(() =>
        plugin.run(params as never, { ...ctx, signal: controller.signal, log })
      ),
      deadline,
    ]);
  } finally {
    cancel?.();
  }
}
