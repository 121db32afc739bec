import assert from "node:assert/strict";
import { z } from "zod";
import type { EnrichmentEntry } from "../config/schema.ts";
import {
  canonicalJson,
  EnrichmentCache,
  type EnrichmentRun,
  runEnrichments,
} from "./enrich.ts";
import type { EnrichmentPlugin, PluginContext } from "../plugin.ts";
import { PluginRegistry } from "../plugins/registry.ts";
import { registerSecret } from "../secrets.ts";

// deno-lint-ignore no-explicit-any
type AnyPlugin = EnrichmentPlugin<any>;

function registryOf(...plugins: AnyPlugin[]): PluginRegistry {
  const registry = new PluginRegistry();
  for (const plugin of plugins) {
    registry.addEnrichment({
      name: plugin.name,
      aliases: plugin.aliases ?? [],
      url: `test:${plugin.name}`,
      builtin: false,
      load: () => Promise.resolve(plugin),
    });
  }
  return registry;
}

function entry(
  e_func: string,
  overrides: Partial<EnrichmentEntry> = {},
): EnrichmentEntry {
  return {
    e_name: e_func,
    e_func,
    e_key: "",
    enabled: true,
    e_args: {},
    ...overrides,
  };
}

function run(
  registry: PluginRegistry,
  overrides: Partial<EnrichmentRun> = {},
): EnrichmentRun {
  return {
    alert: { ip: "192.0.2.10", user: "alice" },
    alertId: "alert-1",
    detector: "det",
    registry,
    cache: new EnrichmentCache(),
    settingsFor: () => ({}),
    defaults: { timeoutMs: 5_000, ttlMs: 60_000 },
    ...overrides,
  };
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first (no timer left behind). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** A plugin that counts its calls and returns what it was given. */
function counting(
  name: string,
  body?: (params: Record<string, unknown>, ctx: PluginContext) => unknown,
) {
  const calls: Record<string, unknown>[] = [];
  const plugin: AnyPlugin = {
    name,
    async run(params: Record<string, unknown>, ctx: PluginContext) {
      calls.push(params);
      return body ? await body(params, ctx) : { params, args: ctx.args };
    },
  };
  return { plugin, calls };
}

Deno.test("runEnrichments() runs all enrichments concurrently: all five start before any ends", async () => {
  const events: string[] = [];
  let running = 0;
  let maxRunning = 0;
  const plugin: AnyPlugin = {
    name: "slow",
    async run({ id }: { id: number }, ctx: PluginContext) {
      events.push(`start ${id}`);
      maxRunning = Math.max(maxRunning, ++running);
      await sleep(200, ctx.signal);
      running--;
      events.push(`end ${id}`);
      return { id };
    },
  };
  const entries = [0, 1, 2, 3, 4].map((id) =>
    entry("slow", { e_name: `Slow ${id}`, e_args: { id } })
  );
  const results = await runEnrichments(entries, run(registryOf(plugin)));
  assert.deepEqual(events.slice(0, 5).sort(), [
    "start 0",
    "start 1",
    "start 2",
    "start 3",
    "start 4",
  ]);
  assert.equal(maxRunning, 5);
  assert.deepEqual(
    results.map((r) => [r.name, r.status, r.data]),
    [0, 1, 2, 3, 4].map((id) => [`Slow ${id}`, "ok", { id }]),
    "results keep the entries' order",
  );
});

Deno.test("runEnrichments() reports a timeout while the other enrichments succeed", async () => {
  let aborted: unknown;
  const hang: AnyPlugin = {
    name: "hang",
    async run(_params: unknown, ctx: PluginContext) {
      try {
        await sleep(60_000, ctx.signal);
      } finally {
        aborted = ctx.signal.aborted;
      }
    },
  };
  const quick = counting("quick");
  const results = await runEnrichments(
    [
      entry("hang", { e_name: "WHOIS", timeout: 50 }),
      entry("quick", { e_name: "Quick" }),
    ],
    run(registryOf(hang, quick.plugin)),
  );
  assert.equal(results[0]!.status, "timeout");
  assert.equal(results[0]!.error, "timed out after 50 ms");
  assert.equal(results[0]!.name, "WHOIS");
  assert.equal(
    aborted,
    true,
    "the plugin's signal was aborted at the deadline",
  );
  assert.equal(results[1]!.status, "ok");
  assert.deepEqual(results[1]!.data, { params: {}, args: [] });
});

Deno.test("runEnrichments() uses the plugin's timeoutMs when the entry sets none, then the default", async () => {
  const hang = (name: string, timeoutMs?: number): AnyPlugin => ({
    name,
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    run: (_p: unknown, ctx: PluginContext) => sleep(60_000, ctx.signal),
  });
  const results = await runEnrichments(
    [entry("own"), entry("fallback")],
    run(registryOf(hang("own", 30), hang("fallback")), {
      defaults: { timeoutMs: 40, ttlMs: 0 },
    }),
  );
  assert.deepEqual(results.map((r) => [r.status, r.error]), [[
    "timeout",
    "timed out after 30 ms",
  ], ["timeout", "timed out after 40 ms"]]);
});

Deno.test("runEnrichments() turns a throwing plugin into an error result with its message", async () => {
  registerSecret("enrich-test-secret-value");
  const boom: AnyPlugin = {
    name: "boom",
    run() {
      throw new Error(
        "backend refused login with enrich-test-secret-value\nstack details",
      );
    },
  };
  const sync: AnyPlugin = {
    name: "throws_string",
    run() {
      throw "plain string thrown";
    },
  };
  const ok = counting("ok");
  const results = await runEnrichments([
    entry("boom"),
    entry("throws_string"),
    entry("ok"),
  ], run(registryOf(boom, sync, ok.plugin)));
  assert.equal(results[0]!.status, "error");
  assert.equal(
    results[0]!.error,
    "backend refused login with [redacted]",
    "first line only, secrets redacted",
  );
  assert.equal(results[1]!.status, "error");
  assert.equal(results[1]!.error, "plain string thrown");
  assert.equal(results[2]!.status, "ok");
});

Deno.test("runEnrichments() reports an unknown e_func as an error result, not a crash", async () => {
  const [result] = await runEnrichments([entry("nope")], run(registryOf()));
  assert.equal(result!.status, "error");
  assert.equal(result!.error, 'Unknown enrichment "nope"');
});

Deno.test("runEnrichments() skips a disabled enrichment without calling its plugin", async () => {
  let loaded = 0;
  const registry = new PluginRegistry();
  registry.addEnrichment({
    name: "off",
    aliases: [],
    url: "test:off",
    builtin: false,
    load: () => {
      loaded++;
      return Promise.resolve({ name: "off", run: () => ({}) });
    },
  });
  const [result] = await runEnrichments([
    entry("off", { e_name: "Off", enabled: false }),
  ], run(registry));
  assert.deepEqual(result, {
    name: "Off",
    func: "off",
    status: "skipped",
    ms: 0,
  });
  assert.equal(loaded, 0);
});

Deno.test("runEnrichments() validates params and reports what is wrong", async () => {
  const lookup: AnyPlugin = {
    name: "lookup_ip",
    params: z.object({ ip: z.string(), limit: z.number().int().default(10) }),
    positional: ["ip"],
    run: (params: { ip: string; limit: number }) => params,
  };
  const results = await runEnrichments(
    [
      entry("lookup_ip", { e_key: "ip" }),
      entry("lookup_ip", { e_key: "not_in_alert" }),
      entry("lookup_ip", { e_key: "ip", e_args: { limit: "many" } }),
    ],
    run(registryOf(lookup)),
  );
  assert.equal(results[0]!.status, "ok");
  assert.deepEqual(
    results[0]!.data,
    { ip: "192.0.2.10", limit: 10 },
    "e_key values are named by positional, defaults applied",
  );
  assert.equal(results[1]!.status, "error");
  assert.equal(
    results[1]!.error,
    "invalid params: ip: Invalid input: expected string, received undefined",
  );
  assert.equal(results[2]!.status, "error");
  assert.equal(
    results[2]!.error,
    "invalid params: limit: Invalid input: expected number, received string",
  );
});

Deno.test("runEnrichments() caches a result: the second identical call does not invoke the plugin", async () => {
  const { plugin, calls } = counting("cached");
  const options = run(registryOf(plugin));
  const first = await runEnrichments(
    [entry("cached", { e_key: "ip" })],
    options,
  );
  const second = await runEnrichments([entry("cached", { e_key: "ip" })], {
    ...options,
    alertId: "alert-2",
  });
  assert.equal(calls.length, 1);
  assert.equal(first[0]!.cached, undefined);
  assert.equal(second[0]!.cached, true);
  assert.deepEqual(second[0]!.data, first[0]!.data);
  assert.equal(options.cache.calls, 1);
  assert.equal(options.cache.hits, 1);
});

Deno.test("runEnrichments() shares one in-flight call between concurrent identical calls", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const { plugin, calls } = counting("shared", async () => {
    await gate;
    return { answer: 42 };
  });
  const options = run(registryOf(plugin));
  const pending = Promise.all([
    runEnrichments([
      entry("shared", { e_name: "A" }),
      entry("shared", { e_name: "B" }),
    ], options),
    runEnrichments([entry("shared", { e_name: "C" })], {
      ...options,
      alertId: "alert-2",
    }),
  ]);
  // Let every call reach the cache before the plugin may finish.
  for (
    let i = 0;
    i < 1_000 && options.cache.calls + options.cache.hits < 3;
    i++
  ) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  release();
  assert.equal(
    options.cache.calls + options.cache.hits,
    3,
    "all three calls reached the cache",
  );
  const [[a, b], [c]] = await pending;
  assert.equal(calls.length, 1);
  assert.deepEqual([a, b, c].map((r) => r!.data), [{ answer: 42 }, {
    answer: 42,
  }, { answer: 42 }]);
  assert.deepEqual([a, b, c].filter((r) => r!.cached).length, 2);
});

Deno.test("runEnrichments() makes a new call when e_args, alert values or settings change", async () => {
  const { plugin, calls } = counting("keyed");
  let settings: Record<string, unknown> = { region: "eu" };
  const options = run(registryOf(plugin), { settingsFor: () => settings });
  await runEnrichments(
    [entry("keyed", { e_key: "ip", e_args: { q: 1 } })],
    options,
  );
  await runEnrichments(
    [entry("keyed", { e_key: "ip", e_args: { q: 1 } })],
    options,
  );
  assert.equal(calls.length, 1);
  await runEnrichments(
    [entry("keyed", { e_key: "ip", e_args: { q: 2 } })],
    options,
  );
  assert.equal(calls.length, 2, "changed e_args");
  await runEnrichments([entry("keyed", { e_key: "ip", e_args: { q: 2 } })], {
    ...options,
    alert: { ip: "192.0.2.99" },
  });
  assert.equal(calls.length, 3, "changed alert value");
  settings = { region: "us" };
  await runEnrichments(
    [entry("keyed", { e_key: "ip", e_args: { q: 2 } })],
    options,
  );
  assert.equal(calls.length, 4, "changed settings");
  await runEnrichments(
    [entry("keyed", { e_key: "ip", e_args: { q: 2 } })],
    options,
  );
  assert.equal(calls.length, 4);
});

Deno.test("runEnrichments() caches for the entry's ttl (injected clock), then calls again", async () => {
  let now = 1_000_000;
  const { plugin, calls } = counting("ttl");
  const options = run(registryOf(plugin), {
    cache: new EnrichmentCache({ now: () => now }),
  });
  const once = () => runEnrichments([entry("ttl", { ttl: 1_000 })], options);
  await once();
  now += 999;
  assert.equal((await once())[0]!.cached, true);
  assert.equal(calls.length, 1);
  now += 2;
  assert.equal((await once())[0]!.cached, undefined);
  assert.equal(calls.length, 2);
});

Deno.test("runEnrichments() does not cache errors or ttl 0", async () => {
  let fail = true;
  const { plugin, calls } = counting("flaky", () => {
    if (fail) throw new Error("down");
    return "up";
  });
  const options = run(registryOf(plugin));
  assert.equal(
    (await runEnrichments([entry("flaky")], options))[0]!.status,
    "error",
  );
  fail = false;
  assert.equal(
    (await runEnrichments([entry("flaky")], options))[0]!.data,
    "up",
  );
  assert.equal(calls.length, 2);
  const uncached = counting("uncached");
  const noTtl = run(registryOf(uncached.plugin), {
    defaults: { timeoutMs: 1000, ttlMs: 0 },
  });
  await runEnrichments([entry("uncached")], noTtl);
  await runEnrichments([entry("uncached")], noTtl);
  assert.equal(uncached.calls.length, 2);
});

Deno.test("runEnrichments() returns JSON-able data", async () => {
  const odd: AnyPlugin = {
    name: "odd",
    run: () => ({
      big: 10n,
      when: new Date(0),
      nothing: undefined,
      list: [1, undefined],
    }),
  };
  const none: AnyPlugin = { name: "none", run: () => undefined };
  const [a, b] = await runEnrichments(
    [entry("odd"), entry("none")],
    run(registryOf(odd, none)),
  );
  assert.deepEqual(a!.data, {
    big: "10",
    when: "1970-01-01T00:00:00.000Z",
    list: [1, null],
  });
  assert.equal(b!.data, null);
});

Deno.test("EnrichmentCache.get() evicts the oldest entry beyond max", async () => {
  const cache = new EnrichmentCache({ max: 2 });
  let n = 0;
  const fn = () => Promise.resolve(++n);
  await cache.get("a", 1000, fn);
  await cache.get("b", 1000, fn);
  await cache.get("c", 1000, fn);
  assert.deepEqual(await cache.get("b", 1000, fn), { value: 2, cached: true });
  assert.deepEqual(await cache.get("a", 1000, fn), { value: 4, cached: false });
});

Deno.test("canonicalJson() gives equal text for equal values whatever the key order", () => {
  assert.equal(
    canonicalJson({ b: 1, a: { d: [1, { f: 2, e: 1 }], c: null } }),
    canonicalJson({ a: { c: null, d: [1, { e: 1, f: 2 }] }, b: 1 }),
  );
  assert.notEqual(canonicalJson({ a: 1 }), canonicalJson({ a: "1" }));
});

Deno.test("runEnrichments() stores a huge result cut to what the email shows, with its full size", async () => {
  const huge: AnyPlugin = {
    name: "huge",
    run: () => ({
      blob: "x".repeat(5_000_000),
      rows: Array.from({ length: 5_000 }, (_, i) => ({ i })),
      deep: { a: { b: { c: { d: { e: { f: { g: "deepest" } } } } } } },
    }),
  };
  const small: AnyPlugin = {
    name: "small",
    run: () => ({ ok: "y".repeat(1000) }),
  };
  const [big, little] = await runEnrichments(
    [entry("huge"), entry("small")],
    run(registryOf(huge, small)),
  );
  assert.equal(big!.status, "ok");
  const stored = JSON.stringify(big);
  assert.ok(stored.length < 200_000, `stored ${stored.length} characters`);
  assert.ok(big!.truncated! > 5_000_000, "the full size is recorded");
  const data = big!.data as Record<string, unknown>;
  assert.match(String(data.blob), /^x{20000}… \[4980000 more characters\]$/);
  assert.equal((data.rows as unknown[]).length, 201);
  assert.equal((data.rows as unknown[])[200], "… 4800 more");
  // deep.a.b.c.d.e sits at depth 6: kept as its JSON text.
  const at = (v: unknown, k: string) => (v as Record<string, unknown>)[k];
  const e = ["a", "b", "c", "d", "e"].reduce(at, data.deep as unknown);
  assert.equal(e, '{"f":{"g":"deepest"}}');
  assert.deepEqual(
    little!.data,
    { ok: "y".repeat(1000) },
    "a normal result is stored whole",
  );
  assert.equal(little!.truncated, undefined);
});
