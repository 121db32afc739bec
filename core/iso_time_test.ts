import assert from "node:assert/strict";
import { isCanonicalIso } from "./iso_time.ts";

Deno.test("isCanonicalIso: toISOString's own form only", () => {
  assert.equal(isCanonicalIso("2026-12-03T17:16:09.123Z"), true);
  assert.equal(isCanonicalIso("2026-02-28T23:59:59.999Z"), true);
  for (
    const other of [
      "2026-02-29T00:00:00.000Z", // a day not every month has: left to Date
      "2026-12-03T17:16:09Z",
      "2026-12-03T18:16:09.123+01:00",
      "2026-13-03T17:16:09.123Z",
      "2026-12-03T24:00:00.000Z",
      "2026-12-03 17:16:09.123Z",
      "not a time at all, 24 ch",
    ]
  ) assert.equal(isCanonicalIso(other), false, other);
});
