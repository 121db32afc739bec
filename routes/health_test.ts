import assert from "node:assert/strict";
import { healthRoutes } from "./health.ts";
import { Metrics } from "../core/service/metrics.ts";
import { Queue } from "../core/service/queue.ts";
import { ingestAlert } from "../core/pipeline/pipeline.ts";
import { closeRuntime, createRuntime } from "../core/service/runtime.ts";
import { silentLogger } from "../core/log.ts";
import { writeProject } from "../tests/_config.ts";

Deno.test("healthRoutes() /metrics exposes sandbox calls per plugin, rate limits per enrichment and store commits", async () => {
  const project = await writeProject({
    global: { action_keys: undefined, plugin_dirs: ["plugins"] },
    detectors: {
      d1: {
        subject: "x",
        enrichments: [{
          e_name: "Owner",
          e_func: "owner",
          e_key: "ip",
          ttl: 0,
          rate: "1/h burst 1",
        }],
      },
    },
    files: {
      "plugins/owner.ts":
        'export default { name: "owner", positional: ["ip"], run: ({ ip }) => ({ ip }) };\n',
    },
  });
  const runtime = await createRuntime({
    configPath: project.config,
    log: silentLogger,
  });
  const metrics = new Metrics();
  const queue = new Queue(runtime, { metrics });
  try {
    const first = await ingestAlert(runtime, "d1", { ip: "192.0.2.1" });
    const second = await ingestAlert(runtime, "d1", { ip: "192.0.2.2" });
    assert.equal(first.enrichments[0]?.status, "ok");
    assert.equal(
      second.enrichments[0]?.status,
      "error",
      "the second call is over the 1/h rate",
    );
    const res = await healthRoutes({ runtime, queue, metrics }).request(
      "/metrics",
    );
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /^blitz_sandbox_calls_total\{plugin="owner"\} 1$/m);
    assert.match(
      text,
      /^blitz_enrichment_limit_calls_total\{enrichment="Owner",func="owner"\} 1$/m,
    );
    assert.match(
      text,
      /^blitz_enrichment_limit_limited_total\{enrichment="Owner",func="owner"\} 1$/m,
    );
    // Two alerts through the CLI's path: each insert and each outcome waited for an fsync.
    assert.match(text, /^# TYPE blitz_store_durable_commits_total counter$/m);
    const count = (name: string) =>
      Number(new RegExp(`^${name} (\\d+)$`, "m").exec(text)?.[1]);
    assert.ok(count("blitz_store_durable_commits_total") >= 4);
    assert.equal(count("blitz_store_bookkeeping_commits_total"), 0);
    // A status change on its own is bookkeeping: no fsync.
    await runtime.store.updateAlert(first.alert_id, { last_error: "x" });
    const again = await (await healthRoutes({ runtime, queue, metrics })
      .request("/metrics")).text();
    assert.match(again, /^blitz_store_bookkeeping_commits_total 1$/m);
    // Too few commits for a checkpoint yet: the counter is there, at 0.
    assert.match(text, /^# TYPE blitz_store_checkpoints_total counter$/m);
    assert.equal(count("blitz_store_checkpoints_total"), 0);
  } finally {
    await queue.stop();
    await closeRuntime(runtime);
    await project.cleanup();
  }
});
