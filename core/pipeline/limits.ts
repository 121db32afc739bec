/**
 * Per-enrichment `rate` and `quota` (from the detector's enrichment entry) in front of any Invoker.
 * The runner calls the invoker only on cache misses, so limits count backend calls, not alerts.
 *
 * - Key: `e_name` + `e_func`. Entries that share both share one limit (across detectors); give an
 *   entry its own `e_name` for its own limit. When entries disagree, the latest settings apply.
 * - `rate` (`10/s`, `600/m burst 20`): a token bucket. An empty bucket does not fail the call at once:
 *   the call reserves the next token and waits for it if the wait is at most half its deadline, then
 *   runs with the rest of the deadline (so the reported "timed out after" stays the entry's deadline).
 *   A longer wait fails at once with "rate limited (10/s, burst 20)", recorded as that enrichment's error.
 * - `quota` (`{max, per}`): at most `max` calls in a window of `per` that starts at the window's first
 *   call; more fail with "quota exceeded (max 100 per 1 h)" until the window ends. A call refused by the
 *   rate limit does not count.
 *
 * @module
 */
import type { EnrichmentEntry } from "../config/schema.ts";
import { formatDuration, type Rate } from "../duration.ts";
import type { Invoker } from "./enrich.ts";

/** Counters of one enrichment, for `/metrics`. */
export interface LimitStats {
  /** The entry's `e_name`. */
  name: string;
  /** The entry's `e_func`. */
  func: string;
  /** Calls passed on to the plugin. */
  calls: number;
  /** Calls that waited for a rate token first. */
  delayed: number;
  /** Calls refused: no token within half the deadline. */
  limited: number;
  /** Calls refused: quota used up. */
  quotaExceeded: number;
}

/** An Invoker with rate limits and quotas, and their counters keyed `e_func/e_name`. */
export type LimitedInvoker = Invoker & { stats(): Record<string, LimitStats> };

/** A call refused by a rate limit or quota. */
export class LimitError extends Error {
  override name = "LimitError";
}

interface Limiter {
  stats: LimitStats;
  tokens: number;
  refilledAt: number;
  windowStart: number;
  used: number;
}

/** Formats a rate for people: `10/s`, `30/m`, `2/h`, with its burst. */
export function formatRate(rate: Rate): string {
  const [count, unit] = rate.perSecond >= 1
    ? [rate.perSecond, "s"]
    : rate.perSecond * 60 >= 1
    ? [rate.perSecond * 60, "m"]
    : [rate.perSecond * 3600, "h"];
  return `${Number(count.toFixed(2))}/${unit}, burst ${rate.burst}`;
}

/**
 * Wraps an Invoker with each enrichment's `rate` and `quota`; calls without an enrichment entry pass through.
 *
 * @example
 * ```ts
 * import { inProcessInvoker } from "./enrich.ts";
 * import { withLimits } from "./limits.ts";
 *
 * const invoker = withLimits(inProcessInvoker);
 * // runtime.invoker = invoker; invoker.stats() → { "whois/WHOIS": { calls, delayed, limited, quotaExceeded, … } }
 * ```
 */
export function withLimits(
  inner: Invoker,
  options: {
    /** Milliseconds clock. @default performance.now */
    now?: () => number;
    /** Waits for a rate token. @default setTimeout */
    sleep?: (ms: number) => Promise<void>;
  } = {},
): LimitedInvoker {
  const now = options.now ?? (() => performance.now());
  const sleep = options.sleep ??
    ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const limiters = new Map<string, Limiter>();

  function limiterOf(entry: EnrichmentEntry): Limiter {
    const key = `${entry.e_func}/${entry.e_name}`;
    let limiter = limiters.get(key);
    if (!limiter) {
      const stats = {
        name: entry.e_name,
        func: entry.e_func,
        calls: 0,
        delayed: 0,
        limited: 0,
        quotaExceeded: 0,
      };
      limiter = {
        stats,
        tokens: entry.rate?.burst ?? 0,
        refilledAt: now(),
        windowStart: now(),
        used: 0,
      };
      limiters.set(key, limiter);
    }
    return limiter;
  }

  /** Returns how long the call must wait for its token, reserving it; or throws when that is too long. */
  function takeToken(limiter: Limiter, rate: Rate, timeoutMs: number): number {
    const t = now();
    limiter.tokens = Math.min(
      rate.burst,
      limiter.tokens + ((t - limiter.refilledAt) / 1000) * rate.perSecond,
    );
    limiter.refilledAt = t;
    if (limiter.tokens >= 1) {
      limiter.tokens -= 1;
      return 0;
    }
    const wait = Math.ceil(((1 - limiter.tokens) / rate.perSecond) * 1000);
    if (wait > timeoutMs / 2) {
      limiter.stats.limited++;
      throw new LimitError(`rate limited (${formatRate(rate)})`);
    }
    limiter.tokens -= 1;
    limiter.stats.delayed++;
    return wait;
  }

  return {
    async invoke(entry, plugin, params, ctx, invokeOptions) {
      const config = invokeOptions.enrichment;
      if (!config) {
        return inner.invoke(entry, plugin, params, ctx, invokeOptions);
      }
      const limiter = limiterOf(config);
      const { quota, rate } = config;
      if (quota) {
        if (now() - limiter.windowStart >= quota.per) {
          limiter.windowStart = now();
          limiter.used = 0;
        }
        if (limiter.used >= quota.max) {
          limiter.stats.quotaExceeded++;
          throw new LimitError(
            `quota exceeded (max ${quota.max} per ${
              formatDuration(quota.per)
            })`,
          );
        }
      }
      const wait = rate ? takeToken(limiter, rate, invokeOptions.timeoutMs) : 0;
      if (quota) {
        if (limiter.used === 0) limiter.windowStart = now();
        limiter.used++;
      }
      limiter.stats.calls++;
      if (wait > 0) await sleep(wait);
      return inner.invoke(entry, plugin, params, ctx, {
        ...invokeOptions,
        timeoutMs: invokeOptions.timeoutMs - wait,
      });
    },
    stats() {
      const out: Record<string, LimitStats> = {};
      for (const [key, limiter] of limiters) out[key] = { ...limiter.stats };
      return out;
    },
  };
}
