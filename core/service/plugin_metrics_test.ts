import assert from "node:assert/strict";
import { renderPluginMetrics } from "./plugin_metrics.ts";

Deno.test("renderPluginMetrics() exposes sandbox counters per plugin and limit counters per enrichment", () => {
  const text = renderPluginMetrics(
    {
      whois: {
        workers: 2,
        spawned: 3,
        terminated: 1,
        calls: 40,
        errors: 2,
        timeouts: 1,
        stuck: 0,
        disabled: 0,
      },
    },
    {
      "whois/WHOIS": {
        name: 'WHO"IS',
        func: "whois",
        calls: 38,
        delayed: 4,
        limited: 2,
        quotaExceeded: 1,
      },
    },
  );
  assert.match(text, /^# TYPE blitz_sandbox_workers gauge$/m);
  assert.match(text, /^blitz_sandbox_workers\{plugin="whois"\} 2$/m);
  assert.match(text, /^blitz_sandbox_timeouts_total\{plugin="whois"\} 1$/m);
  assert.match(
    text,
    /^blitz_enrichment_limit_limited_total\{enrichment="WHO\\"IS",func="whois"\} 2$/m,
  );
  assert.match(
    text,
    /^blitz_enrichment_limit_quota_exceeded_total\{enrichment="WHO\\"IS",func="whois"\} 1$/m,
  );
  // Every sample line is "name{labels} number": parseable exposition.
  for (
    const line of text.trim().split("\n").filter((l) => !l.startsWith("#"))
  ) {
    assert.match(line, /^[a-z_]+\{[^}]*\} \d+$/);
  }
});
