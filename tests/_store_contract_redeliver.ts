/**
 * The store contract's cases for `redeliver` (issue 16): failed emails and channel deliveries go back
 * in the queue once, with an audit entry, also when two stores redeliver the same alert at once.
 *
 * @module
 */
import assert from "node:assert/strict";
import { alert, type ContractCase } from "./_store_fixtures.ts";
import type { Store, StoredMessage } from "../core/store/store.ts";

const MESSAGE: StoredMessage = {
  from: "blitz@example.test",
  to: ["soc@example.test"],
  cc: [],
  subject: "s",
  html: "<p>s</p>",
  text: "s",
  message_id: "<m@example.test>",
};

/** "mail" failed after 8 attempts with a webhook delivery failed too; "ok" delivered. */
async function failed(store: Store): Promise<void> {
  await store.insertAlerts([
    alert("mail", { received_at: "2030-01-01T00:00:00.000Z" }),
    alert("ok", { received_at: "2030-01-01T00:00:01.000Z" }),
  ]);
  await store.updateAlert("mail", {
    status: "failed",
    attempts: 8,
    subject: "s",
    message: MESSAGE,
    last_error: "451 Try again later",
    delivery: { status: "failed", error: "451 Try again later" },
  });
  await store.updateAlert("ok", { status: "delivered", message: MESSAGE });
  await store.insertDeliveries([
    {
      alert_id: "mail",
      channel: "hook",
      event: "alert",
      type: "webhook",
      payload: {},
    },
    {
      alert_id: "ok",
      channel: "hook",
      event: "alert",
      type: "webhook",
      payload: {},
    },
  ]);
  await store.updateDelivery(
    { alert_id: "mail", channel: "hook", event: "alert" },
    { status: "failed", attempts: 8, last_error: "HTTP 500" },
  );
  await store.updateDelivery(
    { alert_id: "ok", channel: "hook", event: "alert" },
    { status: "delivered", attempts: 1 },
  );
}

/** The cases for redeliver. */
export const REDELIVER_CASES: ContractCase[] = [
  {
    name:
      "redeliver() re-queues a failed email and its failed channel deliveries once, and audits it",
    async fn(store, { time }) {
      await failed(store);
      time.set("2030-01-01T01:00:00.000Z");
      const result = await store.redeliver({
        ids: ["mail", "ok", "nope"],
        actor: "alice",
        source: "cli",
      });
      assert.equal(result.redelivered.length, 1);
      const [r] = result.redelivered;
      assert.equal(r!.alert_id, "mail");
      assert.equal(r!.email, true);
      assert.deepEqual(r!.channels, [{ channel: "hook", event: "alert" }]);
      assert.equal(r!.previous_attempts, 8);
      assert.equal(r!.previous_error, "451 Try again later");
      assert.equal(r!.at, "2030-01-01T01:00:00.000Z");
      assert.deepEqual(result.skipped, [
        { alert_id: "ok", reason: "nothing failed (status delivered)" },
        { alert_id: "nope", reason: "no such alert" },
      ]);
      const mail = await store.getAlert("mail");
      assert.equal(mail?.status, "retry");
      assert.equal(mail?.attempts, 0);
      assert.equal(mail?.next_attempt_at, "2030-01-01T01:00:00.000Z");
      assert.deepEqual(mail?.message, MESSAGE, "the email is sent as it was");
      const [hook] = await store.listDeliveries("mail");
      assert.deepEqual([hook!.status, hook!.attempts], ["pending", 0]);
      // Due now: a worker claims it like any retry.
      const claimed = await store.claimBatch({ leaseMs: 1000, limit: 5 });
      assert.deepEqual(claimed.map((a) => a.id), ["mail"]);
      assert.equal(
        (await store.claimDeliveries({ leaseMs: 1000, limit: 5 })).length,
        1,
      );
      const again = await store.redeliver({
        ids: ["mail"],
        actor: "bob",
        source: "ui",
      });
      assert.deepEqual(again.redelivered, []);
      assert.deepEqual(await store.listRedeliveries("mail"), [r]);
      assert.deepEqual(await store.listRedeliveries("ok"), []);
    },
  },
  {
    name:
      "redeliver() with failedSince picks what failed since then; a dry run changes nothing",
    async fn(store, { time }) {
      await store.insertAlerts([alert("early")]);
      await store.updateAlert("early", {
        status: "failed",
        attempts: 1,
        message: MESSAGE,
        subject: "s",
      });
      time.set("2030-01-01T02:00:00.000Z");
      await failed(store);
      time.set("2030-01-01T02:30:00.000Z");
      const since = new Date("2030-01-01T01:30:00.000Z");
      const dry = await store.redeliver({
        failedSince: since,
        actor: "alice",
        source: "cli",
        dryRun: true,
      });
      assert.deepEqual(dry.redelivered.map((r) => r.alert_id), ["mail"]);
      assert.equal((await store.getAlert("mail"))?.status, "failed");
      assert.deepEqual(await store.listRedeliveries("mail"), []);
      const real = await store.redeliver({
        failedSince: since,
        actor: "alice",
        source: "cli",
      });
      assert.deepEqual(real.redelivered.map((r) => r.alert_id), ["mail"]);
      assert.equal((await store.getAlert("early"))?.status, "failed");
      assert.equal((await store.getAlert("mail"))?.status, "retry");
      // Only a channel delivery failed: the alert keeps its status, the delivery is re-queued.
      await store.updateDelivery(
        { alert_id: "ok", channel: "hook", event: "alert" },
        { status: "failed", attempts: 3 },
      );
      const channelOnly = await store.redeliver({
        failedSince: since,
        actor: "carol",
        source: "ui",
      });
      assert.equal(channelOnly.redelivered.length, 1);
      assert.equal(channelOnly.redelivered[0]!.alert_id, "ok");
      assert.equal(channelOnly.redelivered[0]!.email, false);
      assert.equal((await store.getAlert("ok"))?.status, "delivered");
      assert.equal((await store.listDeliveries("ok"))[0]!.status, "pending");
    },
  },
  {
    name:
      "redeliver() from two stores at once re-queues and records the alert once",
    async fn(store, { openOther }) {
      await failed(store);
      const other = await openOther();
      const results = await Promise.all([
        store.redeliver({ ids: ["mail"], actor: "a", source: "cli" }),
        other.redeliver({ ids: ["mail"], actor: "b", source: "cli" }),
        store.redeliver({ ids: ["mail"], actor: "c", source: "ui" }),
        other.redeliver({ ids: ["mail"], actor: "d", source: "ui" }),
      ]);
      const done = results.flatMap((r) => r.redelivered);
      assert.equal(done.length, 1);
      assert.equal(done[0]!.email, true);
      assert.equal(done[0]!.channels.length, 1);
      assert.equal((await store.listRedeliveries("mail")).length, 1);
    },
  },
  {
    name:
      "redeliver() queues a quarantined alert afresh and skips one whose email retention removed",
    async fn(store) {
      await store.insertAlerts([alert("pill"), alert("purged")]);
      await store.updateAlert("pill", {
        status: "failed",
        last_error: "Quarantined: …",
      });
      await store.updateAlert("purged", {
        status: "failed",
        subject: "s",
        message: MESSAGE,
      });
      await store.purge?.({
        alertsBefore: new Date(0),
        emailsBefore: new Date("2100-01-01T00:00:00.000Z"),
        limit: 10,
      });
      const result = await store.redeliver({
        ids: ["pill", "purged"],
        actor: "alice",
        source: "cli",
      });
      assert.deepEqual(result.redelivered.map((r) => r.alert_id), ["pill"]);
      assert.equal((await store.getAlert("pill"))?.status, "queued");
      assert.deepEqual(result.skipped.map((s) => s.alert_id), ["purged"]);
      assert.match(result.skipped[0]!.reason, /removed by retention/);
      assert.equal((await store.getAlert("purged"))?.status, "failed");
    },
  },
];
