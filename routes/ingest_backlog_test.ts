/**
 * `max_backlog` is reserved atomically (issue 16, low): the check before the body is read holds a slot,
 * so 1,000 concurrent requests never store more than the limit.
 */
import assert from "node:assert/strict";
import { ingestRoutes } from "./ingest.ts";
import { Metrics } from "../core/service/metrics.ts";
import { Queue } from "../core/service/queue.ts";
import { closeRuntime, createRuntime } from "../core/service/runtime.ts";
import { writeProject } from "../tests/_config.ts";
import { ingestRequest } from "../tests/_ingest.ts";

const TOKEN = "backlog-test-token-0123456789";

Deno.test("ingestRoutes(): 1,000 concurrent requests never overshoot max_backlog; a batch needs room for all of it", async () => {
  const project = await writeProject({
    global: {
      action_keys: undefined,
      ingest_tokens: [TOKEN],
      rate_limit: "1000/s burst 2000",
      max_backlog: 50,
    },
    detectors: { d1: { subject: "x", enrichments: [] } },
  });
  const runtime = await createRuntime({
    configPath: project.config,
    log: () => {},
  });
  const metrics = new Metrics();
  const queue = new Queue(runtime, { metrics });
  try {
    await queue.start(0); // no workers: what is stored stays in the backlog
    const app = ingestRoutes({ runtime, queue, metrics });
    const post = (body: string) =>
      app.request("/ingest/d1", ingestRequest(TOKEN, body));
    const statuses = await Promise.all(
      Array.from({ length: 1000 }, async (_, i) => {
        const res = await post(JSON.stringify({ n: i }));
        await res.body?.cancel();
        return res.status;
      }),
    );
    const stored = await runtime.store.backlog();
    assert.equal(stored, 50, `stored ${stored} for a max_backlog of 50`);
    assert.equal(statuses.filter((s) => s === 202).length, 50);
    assert.equal(statuses.filter((s) => s === 503).length, 950);
    assert.equal(queue.reserved, 0, "every slot was given back");
    assert.equal(queue.backlog, 50);
  } finally {
    await queue.stop();
    await closeRuntime(runtime);
    await project.cleanup();
  }
});

Deno.test("ingestRoutes(): a batch larger than the room left is refused whole with 503", async () => {
  const project = await writeProject({
    global: {
      action_keys: undefined,
      ingest_tokens: [TOKEN],
      max_backlog: 3,
    },
    detectors: { d1: { subject: "x", enrichments: [] } },
  });
  const runtime = await createRuntime({
    configPath: project.config,
    log: () => {},
  });
  const metrics = new Metrics();
  const queue = new Queue(runtime, { metrics });
  try {
    await queue.start(0);
    const app = ingestRoutes({ runtime, queue, metrics });
    const post = (body: string) =>
      app.request("/ingest/d1", ingestRequest(TOKEN, body));
    assert.equal((await post('[{"n":1},{"n":2}]')).status, 202);
    const refused = await post('[{"n":3},{"n":4}]');
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("retry-after"), "10");
    assert.equal(await runtime.store.backlog(), 2, "nothing of it was stored");
    assert.equal((await post('{"n":5}')).status, 202, "one still fits");
    assert.equal(queue.reserved, 0);
  } finally {
    await queue.stop();
    await closeRuntime(runtime);
    await project.cleanup();
  }
});
