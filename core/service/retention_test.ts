/** RetentionJob on a real SQLite store with an injected clock: what it clears, what it keeps, what it reports. */
import assert from "node:assert/strict";
import { loadConfig } from "../config/config.ts";
import type { Runtime } from "../pipeline/pipeline.ts";
import { openSqliteStore } from "../store/sqlite/sqlite.ts";
import type { ActionRun, AlertRecord } from "../store/store.ts";
import { writeProject } from "../../tests/_config.ts";
import { Metrics } from "./metrics.ts";
import { RetentionJob } from "./retention.ts";

const NOW = new Date("2026-12-01T00:00:00Z");
const DAY = 86_400_000;
const bytes = (value: unknown) =>
  new TextEncoder().encode(JSON.stringify(value)).length;

Deno.test("RetentionJob.runOnce() clears old bodies and emails in batches, keeps rows and the audit trail", async () => {
  const project = await writeProject({
    global: { retention: { alerts: "90d", emails: "30d" } },
    detectors: { d: { subject: "S" } },
  });
  const store = openSqliteStore(`${project.dataDir}/blitz.db`, {
    clock: () => NOW,
  });
  try {
    const config = await loadConfig({
      path: project.config,
      env: (n) => project.env[n],
    });
    const logs: Record<string, unknown>[] = [];
    const metrics = new Metrics();
    const runtime = {
      config,
      store,
      clock: () => NOW,
      log: (event: string, fields?: Record<string, unknown>) =>
        logs.push({ event, ...fields }),
    } as unknown as Runtime;

    const enrichments = [{
      name: "R",
      func: "reverse_dns",
      status: "ok" as const,
      ms: 3,
      data: ["host.example"],
    }];
    const message = (id: string) => ({
      from: "b@example.test",
      to: ["soc@example.test"],
      cc: [],
      subject: `S ${id}`,
      html: `<p>${"x".repeat(2000)}</p>`,
      text: "x".repeat(500),
      message_id: `<${id}@example.test>`,
    });
    const add = async (
      id: string,
      daysAgo: number,
      status: "delivered" | "queued" = "delivered",
    ) => {
      await store.insertAlerts([{
        id,
        detector: "d",
        alert: { ip: "192.0.2.1", id },
        received_at: new Date(NOW.getTime() - daysAgo * DAY).toISOString(),
      }]);
      if (status === "delivered") {
        await store.updateAlert(id, {
          status,
          subject: `S ${id}`,
          enrichments,
          message: message(id),
        });
      }
    };
    for (let i = 0; i < 5; i++) await add(`old-${i}`, 100 + i);
    await add("mid", 40);
    await add("recent", 1);
    await add("old-queued", 120, "queued");
    const run: ActionRun = {
      nonce: "n1",
      alert_id: "old-0",
      button: "Block",
      actor: "ana",
      actor_source: "claimed",
      started_at: NOW.toISOString(),
      status: "ok",
      steps: [{ name: "pass_to_mail", status: "ok" }],
    };
    await store.consumeNonce(run);
    const before = new Map<string, AlertRecord>();
    for (const a of await store.listAlerts({ limit: 100 })) before.set(a.id, a);

    const job = new RetentionJob(runtime, { metrics, batchSize: 2 });
    const counts = await job.runOnce();

    const old = before.get("old-0")!;
    const expectedBytes =
      5 * (bytes(old.alert) + bytes(enrichments) + bytes(old.message)) +
      bytes(before.get("mid")!.message);
    assert.deepEqual(counts, { alerts: 5, emails: 1, bytes: expectedBytes });
    for (let i = 0; i < 5; i++) {
      const record = (await store.getAlert(`old-${i}`))!;
      assert.deepEqual(record.alert, {});
      assert.equal(record.enrichments, undefined);
      assert.equal(record.message, undefined);
      assert.equal(record.status, "delivered");
      assert.equal(record.subject, `S old-${i}`);
      assert.deepEqual(record.to, before.get(`old-${i}`)!.to);
      assert.equal(record.message_id, before.get(`old-${i}`)!.message_id);
    }
    assert.deepEqual(
      await store.listActionRuns("old-0"),
      [run],
      "the audit trail stays",
    );
    const mid = (await store.getAlert("mid"))!;
    assert.equal(mid.message, undefined);
    assert.deepEqual(mid.alert, before.get("mid")!.alert);
    assert.deepEqual(mid.enrichments, enrichments);
    assert.deepEqual(await store.getAlert("recent"), before.get("recent"));
    assert.deepEqual(
      await store.getAlert("old-queued"),
      before.get("old-queued"),
      "unfinished alerts are never touched",
    );

    const line = logs.find((l) => l.event === "retention_purged")!;
    assert.equal(line.alerts, 5);
    assert.equal(line.emails, 1);
    assert.equal(line.freed_bytes, expectedBytes);
    assert.equal(line.batches, 3, "batches of 2: 2 + 2 + 1");
    assert.equal(
      line.alerts_before,
      new Date(NOW.getTime() - 90 * DAY).toISOString(),
    );
    const text = metrics.render();
    assert.match(text, /^blitz_retention_purged_total\{kind="alerts"\} 5$/m);
    assert.match(text, /^blitz_retention_purged_total\{kind="emails"\} 1$/m);
    assert.match(
      text,
      new RegExp(`^blitz_retention_freed_bytes_total ${expectedBytes}$`, "m"),
    );

    assert.deepEqual(
      await job.runOnce(),
      { alerts: 0, emails: 0, bytes: 0 },
      "a second run finds nothing",
    );
  } finally {
    await store.close();
    await project.cleanup();
  }
});

Deno.test("RetentionJob.runOnce() follows the clock: nothing is old until the clock says so", async () => {
  const project = await writeProject({
    global: { retention: { alerts: "2d", emails: "1d" } },
  });
  let now = NOW;
  const store = openSqliteStore(`${project.dataDir}/blitz.db`, {
    clock: () => now,
  });
  try {
    const config = await loadConfig({
      path: project.config,
      env: (n) => project.env[n],
    });
    const runtime = {
      config,
      store,
      clock: () => now,
      log: () => {},
    } as unknown as Runtime;
    await store.insertAlerts([{
      id: "a",
      detector: "d",
      alert: { x: 1 },
      received_at: NOW.toISOString(),
    }]);
    await store.updateAlert("a", { status: "not_sent" });
    const job = new RetentionJob(runtime);
    assert.deepEqual(await job.runOnce(), { alerts: 0, emails: 0, bytes: 0 });
    now = new Date(NOW.getTime() + 2 * DAY + 1);
    assert.deepEqual(await job.runOnce(), {
      alerts: 1,
      emails: 0,
      bytes: bytes({ x: 1 }),
    });
  } finally {
    await store.close();
    await project.cleanup();
  }
});
