/**
 * The store contract's cases for inserts, reads, updates and lists of alerts (run by `tests/_store_contract.ts`'s users).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { AlertRecord, Store } from "../core/store/store.ts";
import {
  alert,
  type ContractCase,
  UNIQUE_VIOLATION,
} from "./_store_fixtures.ts";

/** The cases for inserts, reads, updates and lists of alerts. */
export const ALERTS_CASES: ContractCase[] = [
  {
    name: "insertAlerts() and getAlert() round-trip every field",
    async fn(store, { time }) {
      await store.insertAlerts([
        alert("a1", {
          received_at: "2030-01-01T01:00:00+01:00",
          idempotency_key: "k1",
          status: "queued",
        }),
      ]);
      const fresh = await store.getAlert("a1");
      assert.deepEqual(fresh, {
        id: "a1",
        detector: "ssh_bruteforce",
        received_at: "2030-01-01T00:00:00.000Z", // normalised to sortable UTC
        updated_at: "2030-01-01T00:00:00.000Z",
        status: "queued",
        alert: { src_ip: "203.0.113.7", n: 1 },
        idempotency_key: "k1",
        attempts: 0,
      });
      time.set("2030-01-01T00:05:00.000Z");
      const patch = {
        status: "delivered",
        subject: "SSH brute force from 203.0.113.7",
        to: ["soc@example.test"],
        cc: ["lead@example.test"],
        condition: "alert.n > 0",
        enrichments: [{
          name: "rdns",
          func: "reverse_dns",
          status: "ok",
          ms: 3,
          data: { hostnames: ["h"] },
        }],
        actions: [{
          name: "jira",
          status: "ok",
          return_name: "ticket",
          value: "SEC-1",
          ms: 20,
        }],
        message: {
          from: "blitz@example.test",
          to: ["soc@example.test"],
          cc: [],
          subject: "s",
          html: "<p>h</p>",
          text: "h",
          message_id: "<a1@blitz>",
          headers: { "X-Blitz": "1" },
        },
        message_id: "<a1@blitz>",
        delivery: { status: "sent", response: "250 OK" },
        attempts: 2,
        next_attempt_at: "2030-01-01T00:10:00.000Z",
        last_error: "first try: 421",
        jira_keys: ["SEC-1"],
      } as const satisfies Partial<AlertRecord>;
      await store.updateAlert(
        "a1",
        structuredClone(patch) as Parameters<Store["updateAlert"]>[1],
      );
      assert.deepEqual(await store.getAlert("a1"), {
        ...fresh,
        ...patch,
        updated_at: "2030-01-01T00:05:00.000Z",
      });
      await store.updateAlert("a1", { condition: null });
      assert.equal((await store.getAlert("a1"))?.condition, null);
      assert.equal(await store.getAlert("missing"), undefined);
    },
  },
  {
    name: "insertAlerts() is all or nothing",
    async fn(store) {
      await store.insertAlerts([alert("a1")]);
      await assert.rejects(
        store.insertAlerts([alert("a2"), alert("a3"), alert("a1")]),
        UNIQUE_VIOLATION,
      );
      await assert.rejects(
        store.insertAlerts([alert("a4"), alert("a4")]),
        UNIQUE_VIOLATION,
      );
      assert.deepEqual((await store.listAlerts()).map((a) => a.id), ["a1"]);
      await store.insertAlerts([alert("a2"), alert("a3")]);
      await store.insertAlerts([]);
      assert.equal((await store.listAlerts()).length, 3);
    },
  },
  {
    name: "insertAlertsIdempotent() returns the original id for a known key",
    async fn(store) {
      assert.deepEqual(
        await store.insertAlertsIdempotent([
          alert("a1", { idempotency_key: "k" }),
        ]),
        [
          { id: "a1", duplicate: false },
        ],
      );
      const result = await store.insertAlertsIdempotent([
        alert("a2", { idempotency_key: "k" }), // seen before
        alert("a3", { idempotency_key: "k2" }), // new
        alert("a4", { idempotency_key: "k2" }), // duplicate inside the batch
        alert("a5", { idempotency_key: "k", detector: "other" }), // keys are per detector
        alert("a6"), // no key: always new
      ]);
      assert.deepEqual(result, [
        { id: "a1", duplicate: true },
        { id: "a3", duplicate: false },
        { id: "a3", duplicate: true },
        { id: "a5", duplicate: false },
        { id: "a6", duplicate: false },
      ]);
      assert.deepEqual((await store.listAlerts()).map((a) => a.id).sort(), [
        "a1",
        "a3",
        "a5",
        "a6",
      ]);
      await assert.rejects(
        store.insertAlertsIdempotent([
          alert("a7", { idempotency_key: "k3" }),
          alert("a1"),
        ]),
      );
      assert.equal(await store.getAlert("a7"), undefined);
    },
  },
  {
    name:
      "insertAlertsIdempotent() keeps a batch of 150 in order: keyed alerts between runs of unkeyed ones",
    async fn(store) {
      await store.insertAlertsIdempotent([
        alert("old", { idempotency_key: "seen" }),
      ]);
      // 150 alerts, every 37th keyed (one key stored before, one repeated inside the batch): runs of
      // unkeyed alerts of every length the store may cut them into.
      const batch = Array.from({ length: 150 }, (_, i) => {
        const id = `b${String(i).padStart(3, "0")}`;
        if (i === 37) return alert(id, { idempotency_key: "seen" });
        if (i === 74 || i === 111) {
          return alert(id, { idempotency_key: "twice" });
        }
        return alert(id, { alert: { n: i } });
      });
      const result = await store.insertAlertsIdempotent(batch);
      assert.deepEqual(
        result,
        batch.map((a, i) =>
          i === 37
            ? { id: "old", duplicate: true }
            : i === 111
            ? { id: "b074", duplicate: true }
            : { id: a.id, duplicate: false }
        ),
      );
      const stored = batch.filter((_, i) => i !== 37 && i !== 111);
      // Claimed oldest first, ties in the order of insertion: the batch's order.
      const claimed = await store.claimBatch({ leaseMs: 60_000, limit: 200 });
      assert.deepEqual(
        claimed.map((a) => a.id),
        ["old", ...stored.map((a) => a.id)],
      );
      assert.deepEqual(
        (await store.getAlert("b149"))?.alert,
        { n: 149 },
      );
    },
  },
  {
    name: "concurrent writes fail alone: the others are committed",
    async fn(store) {
      await store.insertAlerts([alert("a1"), alert("a2")]);
      // Issued in one turn (the SQLite store puts them in one group commit).
      const results = await Promise.allSettled([
        store.updateAlert("a1", { status: "delivered", attempts: 1 }),
        store.insertAlerts([alert("a1")]), // duplicate id: its INSERT fails
        store.updateAlert("missing", { status: "delivered" }), // no such alert
        store.insertAlertsIdempotent([alert("a3", { idempotency_key: "k" })]),
        store.insertAlerts([alert("a4"), alert("a2")]), // fails as a whole
        store.updateAlert("a2", { status: "failed", last_error: "x" }),
      ]);
      assert.deepEqual(results.map((r) => r.status), [
        "fulfilled",
        "rejected",
        "rejected",
        "fulfilled",
        "rejected",
        "fulfilled",
      ]);
      assert.match(
        String((results[1] as PromiseRejectedResult).reason),
        UNIQUE_VIOLATION,
      );
      assert.match(
        String((results[2] as PromiseRejectedResult).reason),
        /no such alert/,
      );
      assert.equal((await store.getAlert("a1"))?.status, "delivered");
      assert.equal((await store.getAlert("a1"))?.attempts, 1);
      assert.equal((await store.getAlert("a2"))?.status, "failed");
      assert.equal((await store.getAlert("a3"))?.idempotency_key, "k");
      assert.equal(await store.getAlert("a4"), undefined);
      assert.equal((await store.listAlerts()).length, 3);
    },
  },
  {
    name: "updateAlert() changes only the given fields",
    async fn(store, { time }) {
      await store.insertAlerts([alert("a1")]);
      await store.updateAlert("a1", {
        to: ["a@example.test"],
        cc: ["b@example.test"],
        subject: "s",
        last_error: "e",
      });
      time.set("2030-01-02T00:00:00.000Z");
      await store.updateAlert("a1", { to: ["c@example.test"], attempts: 1 });
      const record = await store.getAlert("a1");
      assert.deepEqual(record?.to, ["c@example.test"]);
      assert.deepEqual(record?.cc, ["b@example.test"]);
      assert.equal(record?.subject, "s");
      assert.equal(record?.last_error, "e");
      assert.equal(record?.attempts, 1);
      assert.equal(record?.status, "queued");
      assert.equal(record?.updated_at, "2030-01-02T00:00:00.000Z");
      assert.equal(record?.received_at, "2030-01-01T00:00:00.000Z");
      // A key given as undefined clears an optional field (object-spread semantics).
      await store.updateAlert(
        "a1",
        { last_error: undefined, cc: undefined } as unknown as {
          last_error: string;
        },
      );
      const cleared = await store.getAlert("a1");
      assert.equal("last_error" in cleared!, false);
      assert.equal("cc" in cleared!, false);
      assert.deepEqual(cleared?.to, ["c@example.test"]);
      await assert.rejects(
        store.updateAlert("missing", { attempts: 1 }),
        /no such alert/,
      );
      await assert.rejects(
        store.updateAlert("a1", { id: "x" } as never),
        TypeError,
      );
    },
  },
  {
    name: "listAlerts() lists newest first with filters and a cursor",
    async fn(store) {
      const alerts = Array.from({ length: 600 }, (_, i) =>
        alert(`a${i}`, {
          received_at: new Date(Date.UTC(2030, 0, 1, 0, 0, i)).toISOString(),
          detector: i % 2 === 0 ? "even" : "odd",
          status: i % 3 === 0 ? "delivered" : "queued",
        }));
      await store.insertAlerts(alerts);
      const page = await store.listAlerts();
      assert.equal(page.length, 50);
      assert.deepEqual(page.slice(0, 2).map((a) => a.id), ["a599", "a598"]);
      assert.equal((await store.listAlerts({ limit: 10_000 })).length, 500);
      await assert.rejects(store.listAlerts({ limit: 0 }), RangeError);
      const even = await store.listAlerts({
        detector: "even",
        status: "delivered",
        limit: 3,
      });
      assert.deepEqual(even.map((a) => a.id), ["a594", "a588", "a582"]);
      const next = await store.listAlerts({
        detector: "even",
        status: "delivered",
        limit: 3,
        before: even[2]!.received_at,
      });
      assert.deepEqual(next.map((a) => a.id), ["a576", "a570", "a564"]);
      assert.deepEqual(
        (await store.listAlerts({ status: "queued", limit: 2 })).map((a) =>
          a.id
        ),
        ["a599", "a598"],
      );
      assert.deepEqual(
        (await store.listAlerts({ before: "2030-01-01T00:00:02.000Z" })).map((
          a,
        ) => a.id),
        ["a1", "a0"],
      );
    },
  },
  {
    name:
      "listAlerts() pages alerts that share a received_at with a (received_at, id) cursor",
    async fn(store) {
      const at = "2030-01-01T00:00:00.000Z";
      // 7 alerts in the same millisecond, inserted out of id order, and one older.
      await store.insertAlerts(
        ["t3", "t6", "t0", "t5", "t1", "t4", "t2"].map((id) =>
          alert(id, { received_at: at })
        ).concat([alert("old", { received_at: "2029-12-31T00:00:00.000Z" })]),
      );
      const seen: string[] = [];
      let cursor: { before: string; before_id: string } | undefined;
      for (let pages = 0; pages < 10; pages++) {
        const page = await store.listAlerts({ limit: 3, ...cursor });
        seen.push(...page.map((a) => a.id));
        if (page.length < 3) break;
        const last = page[page.length - 1]!;
        cursor = { before: last.received_at, before_id: last.id };
      }
      assert.deepEqual(seen, ["t6", "t5", "t4", "t3", "t2", "t1", "t0", "old"]);
      // `before` alone keeps its meaning: strictly older than the instant.
      assert.deepEqual(
        (await store.listAlerts({ before: at })).map((a) => a.id),
        ["old"],
      );
    },
  },
  {
    name:
      "severity and thread_key round-trip, listAlerts() finds a thread oldest first, big integers stay exact",
    async fn(store) {
      const big = { evt_time: 1685022245478445995n, small: 7, f: 0.25 };
      await store.insertAlerts([
        alert("th1", { received_at: "2030-01-01T00:00:01.000Z", alert: big }),
        alert("th2", { received_at: "2030-01-01T00:00:02.000Z" }),
        alert("th3", { received_at: "2030-01-01T00:00:03.000Z" }),
      ]);
      await store.updateAlert("th1", { severity: "high", thread_key: "k1" });
      await store.updateAlert("th3", { severity: "low", thread_key: "k1" });
      await store.updateAlert("th2", { thread_key: "k2" });
      const first = (await store.getAlert("th1"))!;
      assert.equal(first.severity, "high");
      assert.equal(first.thread_key, "k1");
      assert.deepEqual(
        first.alert,
        big,
        "an integer above 2^53, digit for digit",
      );
      const thread = await store.listAlerts({
        detector: "ssh_bruteforce",
        thread_key: "k1",
        oldest_first: true,
      });
      assert.deepEqual(thread.map((a) => a.id), ["th1", "th3"]);
      assert.deepEqual(
        (await store.listAlerts({ thread_key: "k1", limit: 1 })).map((a) =>
          a.id
        ),
        ["th3"],
      );
    },
  },
];
