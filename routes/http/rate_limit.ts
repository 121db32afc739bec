/**
 * Token-bucket rate limiting per key (an ingest token, a client address). Memory is bounded: at most
 * `maxKeys` buckets are kept; full buckets (idle keys) are dropped first, then the least recently used.
 *
 * @module
 */
import type { Rate } from "../../core/duration.ts";

/** The answer of {@link RateLimiter.take}. */
export interface RateDecision {
  /** True when a token was taken: let the request through. */
  ok: boolean;
  /** Whole seconds until a token is available (0 when `ok`); send it as `Retry-After`. */
  retryAfterS: number;
}

/** The answer for every request let through (one object for all). */
const TAKEN: RateDecision = Object.freeze({ ok: true, retryAfterS: 0 });

interface Bucket {
  tokens: number;
  at: number; // ms of the last refill
}

/**
 * A token bucket per key: `burst` tokens at most, refilled at `perSecond`.
 *
 * @example
 * ```ts
 * const limiter = new RateLimiter({ perSecond: 10, burst: 20 });
 * const { ok, retryAfterS } = limiter.take("token-1");
 * if (!ok) console.log(`429, Retry-After: ${retryAfterS}`);
 * ```
 */
export class RateLimiter {
  #rate: Rate;
  #buckets = new Map<string, Bucket>();
  #maxKeys: number;
  #now: () => number;
  #lastSweep = -Infinity;

  constructor(
    rate: Rate,
    options: {
      /** Buckets kept at most. @default 10000 */
      maxKeys?: number;
      /** Clock in ms. @default Date.now */
      now?: () => number;
    } = {},
  ) {
    if (!(rate.perSecond > 0) || !(rate.burst >= 1)) {
      throw new RangeError(
        `Invalid rate: ${rate.perSecond}/s burst ${rate.burst}`,
      );
    }
    this.#rate = rate;
    this.#maxKeys = Math.max(1, options.maxKeys ?? 10_000);
    this.#now = options.now ?? Date.now;
  }

  /** Takes one token from `key`'s bucket if it has one. */
  take(key: string, now: number = this.#now()): RateDecision {
    const { perSecond, burst } = this.#rate;
    let bucket = this.#buckets.get(key);
    if (bucket) {
      this.#buckets.delete(key); // re-inserted below: Map order is least recently used first
      bucket.tokens = Math.min(
        burst,
        bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * perSecond,
      );
      bucket.at = now;
    } else {
      this.#makeRoom(now);
      bucket = { tokens: burst, at: now };
    }
    this.#buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return TAKEN;
    }
    return {
      ok: false,
      retryAfterS: Math.max(1, Math.ceil((1 - bucket.tokens) / perSecond)),
    };
  }

  /** Number of buckets held. */
  get size(): number {
    return this.#buckets.size;
  }

  #makeRoom(now: number): void {
    if (this.#buckets.size < this.#maxKeys) return;
    // Dropping a full bucket changes nothing for its key; sweep for them at most once a second.
    if (now - this.#lastSweep >= 1000) {
      this.#lastSweep = now;
      const { perSecond, burst } = this.#rate;
      for (const [key, bucket] of this.#buckets) {
        if (bucket.tokens + ((now - bucket.at) / 1000) * perSecond >= burst) {
          this.#buckets.delete(key);
        }
      }
    }
    while (this.#buckets.size >= this.#maxKeys) {
      this.#buckets.delete(this.#buckets.keys().next().value!);
    }
  }
}
