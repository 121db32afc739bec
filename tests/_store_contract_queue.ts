/**
 * The store contract's cases for claims, leases, requeues and the backlog (run by `tests/_store_contract.ts`'s users).
 *
 * @module
 */
import assert from "node:assert/strict";
import { alert, type ContractCase, insertQueue } from "./_store_fixtures.ts";
import {
  type QuarantinedAlert,
  quarantineReason,
} from "../core/store/store.ts";

/** The cases for claims, leases, requeues and the backlog. */
export const QUEUE_CASES: ContractCase[] = [
  {
    name: "claimNext() takes the oldest due alert and leases it",
    async fn(store, { time }) {
      await insertQueue(store);
      const now = new Date("2030-01-01T00:00:30.000Z");
      const first = await store.claimNext({ now, leaseMs: 60_000 });
      assert.equal(first?.id, "old");
      assert.equal(first?.status, "processing");
      assert.equal(first?.attempts, 0);
      assert.equal(
        (await store.claimNext({ now, leaseMs: 60_000 }))?.id,
        "retry_due",
      );
      assert.equal(
        (await store.claimNext({ now, leaseMs: 60_000 }))?.id,
        "new",
      );
      assert.equal(await store.claimNext({ now, leaseMs: 60_000 }), undefined);
      time.set("2030-01-01T00:01:00.000Z");
      assert.equal(
        (await store.claimNext({ leaseMs: 60_000 }))?.id,
        "retry_later",
      );
      assert.equal((await store.getAlert("old"))?.status, "processing");
    },
  },
  {
    name:
      "claimBatch() claims the oldest due alerts up to the limit, as claimNext() would",
    async fn(store, { time }) {
      await insertQueue(store, [
        alert("same_time_1", { received_at: "2030-01-01T00:00:04.000Z" }),
        alert("same_time_2", { received_at: "2030-01-01T00:00:04.000Z" }),
      ]);
      const now = new Date("2030-01-01T00:00:30.000Z");
      const hour = 3_600_000;
      const first = await store.claimBatch({ now, leaseMs: hour, limit: 2 });
      assert.deepEqual(first.map((a) => a.id), ["old", "retry_due"]);
      for (const record of first) {
        assert.equal(record.status, "processing");
        assert.equal(record.updated_at, now.toISOString());
      }
      assert.deepEqual(first[0]?.alert, { src_ip: "203.0.113.7", n: 1 });
      assert.deepEqual(
        (await store.claimBatch({ now, leaseMs: hour, limit: 10 })).map((a) =>
          a.id
        ),
        ["new", "same_time_1", "same_time_2"],
      );
      assert.deepEqual(
        await store.claimBatch({ now, leaseMs: hour, limit: 10 }),
        [],
      );
      time.set("2030-01-01T00:01:00.000Z");
      assert.deepEqual(
        (await store.claimBatch({ leaseMs: 60_000, limit: 10 })).map((a) =>
          a.id
        ),
        ["retry_later"],
      );
      // The lease is the one claimNext would set: not stale before it ends, stale after.
      assert.equal(
        await store.requeueStale({ now: new Date("2030-01-01T00:01:59.000Z") }),
        0,
      );
      assert.equal(
        await store.requeueStale({ now: new Date("2030-01-01T00:02:01.000Z") }),
        1,
      );
      assert.equal((await store.getAlert("retry_later"))?.status, "queued");
      assert.equal((await store.getAlert("done"))?.status, "delivered");
    },
  },
  {
    name: "claimBatch() refuses a limit that is not a positive integer",
    async fn(store) {
      await store.insertAlerts([alert("a1")]);
      for (const limit of [0, -1, 1.5, Number.NaN]) {
        await assert.rejects(
          store.claimBatch({ leaseMs: 1_000, limit }),
          RangeError,
        );
      }
      assert.equal((await store.getAlert("a1"))?.status, "queued");
    },
  },
  {
    name:
      "requeueStale() quarantines an alert interrupted 3 times in a row as failed, with the reason (issue 16 item 1)",
    async fn(store) {
      await store.insertAlerts([alert("pill"), alert("fine")]);
      const now = new Date("2030-01-01T00:00:00.000Z");
      // "fine" is claimed and finished normally each time (a retry): its claims never add up.
      for (let crash = 1; crash <= 3; crash++) {
        const claimed = await store.claimBatch({
          now,
          leaseMs: 60_000,
          limit: 2,
        });
        assert.deepEqual(claimed.map((a) => a.id).sort(), ["fine", "pill"]);
        await store.updateAlert("fine", {
          status: "retry",
          next_attempt_at: now.toISOString(),
        });
        // The service dies with "pill" processing; the next start requeues (or quarantines) it.
        const reported: QuarantinedAlert[][] = [];
        const requeued = await store.requeueStale({
          all: true,
          onQuarantined: (alerts) => reported.push(alerts),
        });
        assert.equal(requeued, crash < 3 ? 1 : 0, `after crash ${crash}`);
        // Reported once, after the write, with the claims counted before the reset.
        assert.deepEqual(
          reported,
          crash < 3 ? [] : [[{
            id: "pill",
            detector: "ssh_bruteforce",
            attempts: 3,
            reason: quarantineReason(3),
          }]],
        );
      }
      const pill = await store.getAlert("pill");
      assert.equal(pill?.status, "failed");
      assert.match(
        pill?.last_error ?? "",
        /^Quarantined: its processing was interrupted 3 times in a row/,
      );
      assert.equal((await store.getAlert("fine"))?.status, "retry");
      assert.equal(
        await store.claimNext({ now, leaseMs: 1 }).then((a) => a?.id),
        "fine",
      );
    },
  },
  {
    name: "requeueStale() requeues expired leases, or all processing alerts",
    async fn(store) {
      await store.insertAlerts([
        alert("a1"),
        alert("a2"),
        alert("a3", { status: "delivered" }),
      ]);
      const start = new Date("2030-01-01T00:00:00.000Z");
      await store.claimNext({ now: start, leaseMs: 10_000 });
      await store.claimNext({ now: start, leaseMs: 60_000 });
      assert.equal(
        await store.requeueStale({ now: new Date("2030-01-01T00:00:09.000Z") }),
        0,
      );
      assert.equal(
        await store.requeueStale({ now: new Date("2030-01-01T00:00:11.000Z") }),
        1,
      );
      assert.equal((await store.getAlert("a1"))?.status, "queued");
      assert.equal((await store.getAlert("a2"))?.status, "processing");
      assert.equal(await store.requeueStale({ all: true }), 1);
      assert.equal((await store.getAlert("a2"))?.status, "queued");
      assert.equal((await store.getAlert("a3"))?.status, "delivered");
      assert.equal(
        (await store.claimNext({ now: start, leaseMs: 1 }))?.id,
        "a1",
      );
    },
  },
  {
    name: "backlog() counts queued, processing and retry alerts",
    async fn(store) {
      assert.equal(await store.backlog(), 0);
      await store.insertAlerts([
        alert("q"),
        alert("p"),
        alert("r"),
        alert("d", { status: "delivered" }),
        alert("f", { status: "failed" }),
        alert("n", { status: "not_sent" }),
      ]);
      await store.updateAlert("p", { status: "processing" });
      await store.updateAlert("r", { status: "retry" });
      assert.equal(await store.backlog(), 3);
      await store.updateAlert("q", { status: "delivered" });
      assert.equal(await store.backlog(), 2);
    },
  },
];
