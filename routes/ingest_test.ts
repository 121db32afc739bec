import assert from "node:assert/strict";
import { ingestRoutes } from "./ingest.ts";
import { Metrics } from "../core/service/metrics.ts";
import { Queue } from "../core/service/queue.ts";
import { closeRuntime, createRuntime } from "../core/service/runtime.ts";
import { writeProject } from "../tests/_config.ts";
import { ingestRequest } from "../tests/_ingest.ts";

const TOKEN = "route-test-token-0123456789";

async function setup() {
  const project = await writeProject({
    global: {
      action_keys: undefined,
      ingest_tokens: [TOKEN],
      rate_limit: "1/m burst 50",
    },
    detectors: { d1: { subject: "x", enrichments: [], id_field: "event.id" } },
  });
  const logs: Record<string, unknown>[] = [];
  const runtime = await createRuntime({
    configPath: project.config,
    log: (event, fields) => logs.push({ event, ...fields }),
  });
  const metrics = new Metrics();
  const queue = new Queue(runtime, { metrics });
  await queue.start(0); // no workers: accepted alerts stay queued
  // A clock that stands still: the limiter's Retry-After is exact (60 s at 1/m) only if no time
  // passes during the 50 requests of the rate-limit test; a loaded machine takes a second for them.
  const at = Date.now();
  const app = ingestRoutes({ runtime, queue, metrics, now: () => at });
  const post = (body: string, headers: Record<string, string> = {}) =>
    app.request("/ingest/d1", ingestRequest(TOKEN, body, headers));
  return {
    runtime,
    queue,
    metrics,
    logs,
    post,
    async [Symbol.asyncDispose]() {
      await queue.stop();
      await closeRuntime(runtime);
      await project.cleanup();
    },
  };
}

Deno.test("ingestRoutes() answers 202 only once the alert is in the store", async () => {
  await using s = await setup();
  const res = await s.post('{"event":{"id":"e1"},"n":1}');
  assert.equal(res.status, 202);
  const body = await res.json();
  assert.deepEqual(Object.keys(body), ["accepted", "ids", "duplicates"]);
  const record = await s.runtime.store.getAlert(body.ids[0]);
  assert.equal(record?.status, "queued");
  assert.equal(record?.idempotency_key, "id:e1");
  assert.deepEqual(record?.alert, { event: { id: "e1" }, n: 1 });
  assert.equal(s.queue.backlog, 1);
});

Deno.test("ingestRoutes() dedups by a nested id_field before the Idempotency-Key", async () => {
  await using s = await setup();
  const a =
    await (await s.post('{"event":{"id":"e9"}}', { "idempotency-key": "k1" }))
      .json();
  const b = await (await s.post('{"event":{"id":"e9"},"retry":true}', {
    "idempotency-key": "k2",
  })).json();
  assert.deepEqual(b.ids, a.ids);
  assert.equal(b.duplicates, 1);
  assert.match(
    s.metrics.render(),
    /blitz_alerts_duplicate_total\{detector="d1"\} 1\n/,
  );
  assert.match(
    s.metrics.render(),
    /blitz_alerts_ingested_total\{detector="d1"\} 1\n/,
  );
});

Deno.test("ingestRoutes() accepts an alert without its id_field and says so in the log", async () => {
  await using s = await setup();
  const first =
    await (await s.post('{"n":1}', { "idempotency-key": "fallback-1" })).json();
  const again =
    await (await s.post('{"n":1}', { "idempotency-key": "fallback-1" })).json();
  assert.deepEqual(again.ids, first.ids, "falls back to the Idempotency-Key");
  assert.ok(
    s.logs.some((l) =>
      l.event === "idempotency_missing" && l.id_field === "event.id"
    ),
  );
});

Deno.test("ingestRoutes() refuses a malformed Idempotency-Key", async () => {
  await using s = await setup();
  const res = await s.post("{}", { "idempotency-key": "has space" });
  assert.equal(res.status, 400);
  assert.match((await res.json()).error, /Idempotency-Key/);
});

Deno.test("ingestRoutes() answers 503 while the queue is stopping", async () => {
  await using s = await setup();
  await s.queue.stop();
  const res = await s.post("{}");
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("retry-after"), "10");
  assert.match((await res.json()).error, /shutting down/);
});

Deno.test("ingestRoutes() rate-limits per token before reading the body", async () => {
  await using s = await setup();
  for (let i = 0; i < 50; i++) await (await s.post("not json")).body?.cancel();
  const res = await s.post("{}");
  assert.equal(res.status, 429);
  assert.equal(res.headers.get("retry-after"), "60");
  assert.match(
    s.metrics.render(),
    /blitz_http_responses_total\{route="\/ingest",code="400"\} 50\n/,
  );
  assert.match(
    s.metrics.render(),
    /blitz_http_responses_total\{route="\/ingest",code="429"\} 1\n/,
  );
});

Deno.test("ingestRoutes() splits a detector's array into one alert per item, each with _parent and its own idempotency key", async () => {
  const project = await writeProject({
    global: { action_keys: undefined, ingest_tokens: [TOKEN] },
    detectors: { am: { subject: "{labels.alertname}", split: "alerts" } },
  });
  const runtime = await createRuntime({
    configPath: project.config,
    log: () => {},
  });
  const queue = new Queue(runtime, { metrics: new Metrics() });
  try {
    await queue.start(0);
    const app = ingestRoutes({ runtime, queue, metrics: new Metrics() });
    const body = JSON.stringify({
      receiver: "blitz",
      externalURL: "http://am.example.org",
      alerts: [{ labels: { alertname: "A" } }, { labels: { alertname: "B" } }],
    });
    const post = (b: string) =>
      app.request(
        "/ingest/am",
        ingestRequest(TOKEN, b, { "idempotency-key": "hook-1" }),
      );
    const res = await post(body);
    assert.equal(res.status, 202);
    const { ids, accepted } = await res.json();
    assert.equal(accepted, 2);
    const records = await Promise.all(
      ids.map((id: string) => runtime.store.getAlert(id)),
    );
    assert.deepEqual(records.map((r) => r!.alert), [
      {
        labels: { alertname: "A" },
        _parent: { receiver: "blitz", externalURL: "http://am.example.org" },
      },
      {
        labels: { alertname: "B" },
        _parent: { receiver: "blitz", externalURL: "http://am.example.org" },
      },
    ]);
    assert.deepEqual(records.map((r) => r!.idempotency_key), [
      "key:hook-1:0",
      "key:hook-1:1",
    ]);
    const again = await (await post(body)).json();
    assert.deepEqual(again, { accepted: 2, ids, duplicates: 2 });
    const bad = await post('{"alerts": []}');
    assert.equal(bad.status, 400);
    assert.match(
      (await bad.json()).error,
      /splits on "alerts", which is empty/,
    );
  } finally {
    await queue.stop();
    await closeRuntime(runtime);
    await project.cleanup();
  }
});

Deno.test("ingestRoutes() answers 422 to an Idempotency-Key reused with a different body, and still dedups a true retry", async () => {
  await using s = await setup();
  const headers = { "idempotency-key": "flowfile-1" };
  const first = await s.post('{"n":1,"b":{"x":1,"y":2}}', headers);
  assert.equal(first.status, 202);
  const { ids } = await first.json();
  // The same alert, keys reordered: a retry.
  const retry = await s.post('{"b":{"y":2,"x":1},"n":1}', headers);
  assert.equal(retry.status, 202);
  assert.deepEqual((await retry.json()).ids, ids);
  const reused = await s.post('{"n":2}', headers);
  assert.equal(reused.status, 422);
  const body = await reused.json();
  assert.match(
    body.error,
    /Idempotency-Key "flowfile-1" was already used with a different body/,
  );
  assert.deepEqual(body.ids, ids);
  assert.equal(await s.runtime.store.backlog(), 1, "nothing new was stored");
  // A batch under a reused key whose elements differ: 422 too.
  const batchHeaders = { "idempotency-key": "batch-1" };
  assert.equal((await s.post('[{"n":1},{"n":2}]', batchHeaders)).status, 202);
  const changed = await s.post('[{"n":1},{"n":3}]', batchHeaders);
  assert.equal(changed.status, 422);
  assert.match((await changed.json()).error, /1 of 2 alerts differ/);
});
