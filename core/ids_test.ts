import assert from "node:assert/strict";
import { uuidv7 } from "./ids.ts";

const UUID_V7 =
  /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

Deno.test("uuidv7() is an RFC 9562 version 7 UUID carrying the given milliseconds", () => {
  const ms = Date.parse("2026-11-28T17:00:00.123Z");
  const id = uuidv7(ms);
  assert.match(id, UUID_V7);
  assert.equal(parseInt(id.replace(/-/g, "").slice(0, 12), 16), ms);
  assert.match(uuidv7(0), /^00000000-0000-7/);
  assert.equal(uuidv7(2 ** 48 - 1).slice(0, 13), "ffffffff-ffff");
});

Deno.test("uuidv7() ids are unique across the random pool's refills and sort by time", () => {
  const ids = new Set<string>();
  for (let i = 0; i < 5000; i++) ids.add(uuidv7(1_000_000));
  assert.equal(ids.size, 5000);
  for (const id of ids) assert.match(id, UUID_V7);
  // 74 random bits: every position takes many values (a stuck byte of the pool would show here).
  const tails = [...ids].map((id) => id.slice(-12));
  for (let pos = 0; pos < 12; pos++) {
    assert.ok(new Set(tails.map((t) => t[pos])).size >= 15, `position ${pos}`);
  }
  assert.ok(uuidv7(1_000) < uuidv7(2_000));
});
