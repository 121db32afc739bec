/**
 * The store contract's cases for the channel outbox: queueing is idempotent per (alert, channel,
 * event), claims take only due entries (and lapsed leases), outcomes are recorded, and an alert's
 * entries list in order.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { ContractCase } from "./_store_fixtures.ts";

const at = (s: string) => new Date(`2030-01-01T00:${s}.000Z`);

/** The cases for the channel outbox. */
export const DELIVERIES_CASES: ContractCase[] = [
  {
    name:
      "insertDeliveries() queues one entry per (alert, channel, event) and keeps the first",
    async fn(store) {
      await store.insertAlerts([{ id: "a1", detector: "d", alert: {} }]);
      const row = {
        alert_id: "a1",
        channel: "hook",
        event: "alert",
        type: "webhook",
        payload: { message: { n: 1 } },
      };
      await store.insertDeliveries([row, {
        ...row,
        channel: "pd",
        type: "pagerduty",
      }]);
      await store.insertDeliveries([{
        ...row,
        payload: { message: { n: 2 } },
      }]);
      const rows = await store.listDeliveries("a1");
      assert.deepEqual(rows.map((r) => [r.channel, r.status, r.attempts]), [
        ["hook", "pending", 0],
        ["pd", "pending", 0],
      ]);
      assert.deepEqual(rows[0]!.payload, { message: { n: 1 } });
      await assert.rejects(
        store.insertDeliveries([{ ...row, alert_id: "nope" }]),
        /no such alert/,
      );
    },
  },
  {
    name:
      "claimDeliveries() takes due entries once, and again after the lease lapses",
    async fn(store, { time }) {
      await store.insertAlerts([{ id: "a1", detector: "d", alert: {} }]);
      await store.insertDeliveries([
        {
          alert_id: "a1",
          channel: "now",
          event: "alert",
          type: "webhook",
          payload: {},
        },
        {
          alert_id: "a1",
          channel: "later",
          event: "alert",
          type: "webhook",
          payload: {},
          next_attempt_at: at("05:00").toISOString(),
        },
      ]);
      const first = await store.claimDeliveries({ leaseMs: 60_000, limit: 10 });
      assert.deepEqual(first.map((d) => [d.channel, d.status]), [[
        "now",
        "sending",
      ]]);
      assert.deepEqual(
        await store.claimDeliveries({ leaseMs: 60_000, limit: 10 }),
        [],
      );
      time.set(at("01:30").toISOString()); // the lease of "now" lapsed (its worker died)
      const again = await store.claimDeliveries({ leaseMs: 60_000, limit: 10 });
      assert.deepEqual(again.map((d) => d.channel), ["now"]);
      await store.updateDelivery(again[0]!, {
        status: "delivered",
        attempts: 1,
        delivered_at: time.clock().toISOString(),
        result: { ts: "1.2" },
        lease_until: undefined,
      });
      time.set(at("06:00").toISOString());
      const later = await store.claimDeliveries({ leaseMs: 60_000, limit: 10 });
      assert.deepEqual(later.map((d) => d.channel), ["later"]);
      const [now] = (await store.listDeliveries("a1")).filter((d) =>
        d.channel === "now"
      );
      assert.equal(now!.status, "delivered");
      assert.deepEqual(now!.result, { ts: "1.2" });
      assert.equal(now!.lease_until, undefined);
      await assert.rejects(
        store.updateDelivery({ alert_id: "a1", channel: "x", event: "alert" }, {
          attempts: 1,
        }),
        /no such delivery/,
      );
    },
  },
];
