import assert from "node:assert/strict";
import { formatTime } from "./_format.ts";

Deno.test("formatTime: the canonical shortcut prints what the Date path prints", () => {
  const viaDate = (iso: string) => {
    const s = new Date(iso).toISOString();
    return `${s.slice(0, 10)} ${s.slice(11, 19)} UTC`;
  };
  for (let i = 0; i < 500; i++) {
    const iso = new Date(Math.floor(Math.random() * 4102444800000))
      .toISOString();
    assert.equal(formatTime(iso), viaDate(iso), iso);
  }
  assert.equal(
    formatTime("2024-02-29T10:00:00.000Z"),
    "2024-02-29 10:00:00 UTC",
  );
  assert.equal(
    formatTime("2026-12-03T18:16:09+01:00"),
    "2026-12-03 17:16:09 UTC",
  );
  assert.equal(formatTime("yesterday"), "yesterday");
});
