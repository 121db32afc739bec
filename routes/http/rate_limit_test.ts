import assert from "node:assert/strict";
import { RateLimiter } from "./rate_limit.ts";

Deno.test("RateLimiter.take() allows a burst, then refuses with Retry-After until refilled", () => {
  const limiter = new RateLimiter({ perSecond: 2, burst: 3 });
  const t = 1_000_000;
  assert.deepEqual([1, 2, 3].map(() => limiter.take("a", t).ok), [
    true,
    true,
    true,
  ]);
  assert.deepEqual(limiter.take("a", t), { ok: false, retryAfterS: 1 });
  assert.equal(limiter.take("a", t + 499).ok, false);
  assert.equal(
    limiter.take("a", t + 500).ok,
    true,
    "one token after half a second at 2/s",
  );
  assert.equal(limiter.take("a", t + 500).ok, false);
});

Deno.test("RateLimiter.take() keeps keys apart", () => {
  const limiter = new RateLimiter({ perSecond: 1, burst: 1 });
  assert.equal(limiter.take("a", 0).ok, true);
  assert.equal(limiter.take("a", 0).ok, false);
  assert.equal(limiter.take("b", 0).ok, true);
});

Deno.test("RateLimiter.take() rounds Retry-After up to whole seconds for slow rates", () => {
  const limiter = new RateLimiter({ perSecond: 1 / 60, burst: 1 });
  assert.equal(limiter.take("a", 0).ok, true);
  assert.deepEqual(limiter.take("a", 0), { ok: false, retryAfterS: 60 });
  assert.deepEqual(limiter.take("a", 30_000), { ok: false, retryAfterS: 30 });
});

Deno.test("RateLimiter.take() never holds more than maxKeys buckets and keeps the busy ones", () => {
  const limiter = new RateLimiter({ perSecond: 1, burst: 2 }, { maxKeys: 100 });
  limiter.take("busy", 0);
  limiter.take("busy", 0); // empty bucket: must not be forgotten (that would hand out a fresh burst)
  for (let i = 0; i < 10_000; i++) {
    limiter.take(`k${i}`, 0);
    limiter.take("busy", 0);
  }
  assert.ok(limiter.size <= 100, `size ${limiter.size}`);
  assert.equal(limiter.take("busy", 0).ok, false);
});

Deno.test("RateLimiter() rejects a rate that can never refill", () => {
  assert.throws(() => new RateLimiter({ perSecond: 0, burst: 1 }), RangeError);
});
