import assert from "node:assert/strict";
import {
  type EnrichmentEntry,
  EnrichmentEntrySchema,
} from "../config/schema.ts";
import { EnrichmentCache, type Invoker, runEnrichments } from "./enrich.ts";
import { formatRate, withLimits } from "./limits.ts";
import type { EnrichmentPlugin } from "../plugin.ts";
import { type PluginEntry, PluginRegistry } from "../plugins/registry.ts";

// deno-lint-ignore no-explicit-any
type AnyPlugin = EnrichmentPlugin<any>;

const plugin: AnyPlugin = { name: "count", run: () => "ok" };
const pluginEntry: PluginEntry<AnyPlugin> = {
  name: "count",
  aliases: [],
  url: "file:///count.ts",
  builtin: false,
  load: () => Promise.resolve(plugin),
};
const ctx = { alert: {}, alertId: "a", detector: "d", args: [], settings: {} };

function entry(fields: Record<string, unknown>): EnrichmentEntry {
  return EnrichmentEntrySchema.parse({
    e_name: "Count",
    e_func: "count",
    ...fields,
  });
}

/** A fake clock whose sleep advances it, and an inner invoker that records the deadline it was given. */
function setup() {
  let t = 1_000;
  const slept: number[] = [];
  const deadlines: number[] = [];
  const inner: Invoker = {
    invoke: (_e, _p, _params, _ctx, { timeoutMs }) => {
      deadlines.push(timeoutMs);
      return Promise.resolve("ok");
    },
  };
  const limited = withLimits(inner, {
    now: () => t,
    sleep: (ms) => {
      slept.push(ms);
      t += ms;
      return Promise.resolve();
    },
  });
  const call = (e: EnrichmentEntry, timeoutMs = 10_000) =>
    limited.invoke(pluginEntry, plugin, {}, ctx, { timeoutMs, enrichment: e });
  return {
    limited,
    call,
    slept,
    deadlines,
    advance: (ms: number) => (t += ms),
  };
}

Deno.test("formatRate() picks the unit people wrote", () => {
  assert.equal(formatRate({ perSecond: 10, burst: 20 }), "10/s, burst 20");
  assert.equal(formatRate({ perSecond: 0.5, burst: 1 }), "30/m, burst 1");
  assert.equal(formatRate({ perSecond: 2 / 3600, burst: 2 }), "2/h, burst 2");
});

Deno.test("withLimits() spends the burst, then waits for a token within the deadline", async () => {
  const { limited, call, slept, deadlines } = setup();
  const e = entry({ rate: "1/s burst 2" });
  assert.deepEqual(await Promise.all([call(e), call(e), call(e)]), [
    "ok",
    "ok",
    "ok",
  ]);
  assert.deepEqual(slept, [1_000]);
  assert.deepEqual(deadlines, [10_000, 10_000, 9_000]);
  assert.deepEqual(limited.stats(), {
    "count/Count": {
      name: "Count",
      func: "count",
      calls: 3,
      delayed: 1,
      limited: 0,
      quotaExceeded: 0,
    },
  });
});

Deno.test("withLimits() refuses a call whose token is further away than half its deadline", async () => {
  const { limited, call, deadlines, advance } = setup();
  const e = entry({ rate: "1/m" });
  await call(e, 5_000);
  await assert.rejects(call(e, 5_000), {
    name: "LimitError",
    message: "rate limited (1/m, burst 1)",
  });
  assert.equal(deadlines.length, 1);
  advance(60_000);
  assert.equal(await call(e, 5_000), "ok");
  assert.equal(limited.stats()["count/Count"]?.limited, 1);
});

Deno.test("withLimits() enforces the quota per window and resets it when the window ends", async () => {
  const { limited, call, advance } = setup();
  const e = entry({ quota: { max: 2, per: "1h" } });
  await call(e);
  advance(1_000);
  await call(e);
  await assert.rejects(call(e), { message: "quota exceeded (max 2 per 1 h)" });
  advance(3_600_000 - 1_000 - 1);
  await assert.rejects(call(e), { message: "quota exceeded (max 2 per 1 h)" });
  advance(1);
  assert.equal(await call(e), "ok");
  assert.deepEqual(limited.stats()["count/Count"], {
    name: "Count",
    func: "count",
    calls: 3,
    delayed: 0,
    limited: 0,
    quotaExceeded: 2,
  });
});

Deno.test("withLimits() keeps one limit per e_name and e_func, and passes other calls through", async () => {
  const { limited, call } = setup();
  await call(entry({ quota: { max: 1, per: "1h" } }));
  assert.equal(
    await call(entry({ e_name: "Other", quota: { max: 1, per: "1h" } })),
    "ok",
  );
  await assert.rejects(call(entry({ quota: { max: 1, per: "1h" } })), {
    message: "quota exceeded (max 1 per 1 h)",
  });
  assert.equal(
    await limited.invoke(pluginEntry, plugin, {}, ctx, { timeoutMs: 1_000 }),
    "ok",
  );
  assert.deepEqual(Object.keys(limited.stats()).sort(), [
    "count/Count",
    "count/Other",
  ]);
});

Deno.test("withLimits() under runEnrichments() records a refused call as that enrichment's error", async () => {
  const registry = new PluginRegistry();
  registry.addEnrichment(pluginEntry);
  const invoker = withLimits({
    invoke: () => Promise.resolve({ owner: "team-a" }),
  });
  const run = (alertId: string) =>
    runEnrichments([
      entry({ ttl: 0, quota: { max: 1, per: "1d" } }),
      entry({ e_name: "Free", ttl: 0, e_args: { other: "call" } }),
    ], {
      alert: {},
      alertId,
      detector: "d",
      registry,
      cache: new EnrichmentCache(),
      settingsFor: () => ({}),
      defaults: { timeoutMs: 1_000, ttlMs: 0 },
      invoker,
    });
  const first = await run("a1");
  assert.deepEqual(first.map((r) => [r.name, r.status]), [["Count", "ok"], [
    "Free",
    "ok",
  ]]);
  const second = await run("a2");
  assert.deepEqual(second.map((r) => [r.name, r.status, r.error]), [[
    "Count",
    "error",
    "quota exceeded (max 1 per 24 h)",
  ], ["Free", "ok", undefined]]);
});
