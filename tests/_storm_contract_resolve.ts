/**
 * The storm contract's resolve cases (`stormCases` includes them, so both backends run them): the
 * transition firing → resolved of a mailed fingerprint is mailed once, through its window and its ack,
 * never grouped and with no digest timer, or, while its firing still waits in a group's batch, joins
 * that batch; repeated resolves and resolves of a fingerprint never mailed
 * are suppressed; the next firing opens a fresh window. See docs/storm.md, "Resolved alerts".
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Store, StormInput } from "../core/store/store.ts";

const T0 = Date.parse("2026-03-02T10:00:00Z");
const MIN = 60_000;

/** One resolve case: a title and a body run on a fresh, empty store. */
export interface ResolveCase {
  title: string;
  fn(store: Store): Promise<void>;
}

function input(
  alertId: string,
  at: number,
  extra: Partial<StormInput> = {},
): StormInput {
  return {
    alertId,
    detector: "ids",
    fingerprint: "fp-r",
    definition: "def",
    paths: ["src_ip"],
    values: ["192.0.2.1"],
    now: new Date(at),
    policy: {
      realertMs: 10 * MIN,
      realertMaxMs: 40 * MIN,
      digest: true,
      ackQuietMs: 60 * MIN,
    },
    ...extra,
  };
}

function alerts(store: Store, ids: string[]): Promise<void> {
  return store.insertAlerts(ids.map((id) => ({
    id,
    detector: "ids",
    alert: { src_ip: "192.0.2.1" },
    status: "processing" as const,
    received_at: new Date(T0).toISOString(),
  })));
}

const resolved = { resolved: true };

/** The resolve cases. */
export const RESOLVE_CASES: ResolveCase[] = [{
  title:
    "a resolve inside the window is mailed once (concurrent resolves too); the rest are suppressed under it; the next firing opens a fresh window",
  async fn(store) {
    const ids = ["f1", "f2", "r1", "r2", "r3", "r4", "f3", "f4"];
    await alerts(store, ids);
    assert.equal((await store.storm.decide(input("f1", T0))).action, "notify");
    const repeat = await store.storm.decide(input("f2", T0 + MIN));
    assert.equal(repeat.action === "suppress" && repeat.reason, "realert");
    const decisions = await Promise.all(
      ["r1", "r2", "r3"].map((id) =>
        store.storm.decide(input(id, T0 + 2 * MIN, resolved))
      ),
    );
    const mailed = decisions.filter((d) => d.action === "notify");
    assert.equal(mailed.length, 1, "one resolve email");
    const resolve = mailed[0]!;
    assert.ok(resolve.action === "notify" && resolve.resolve);
    assert.deepEqual(
      resolve.action === "notify" && resolve.since?.count,
      1,
      "the resolve counts the repeat",
    );
    const winner = ["r1", "r2", "r3"][decisions.indexOf(resolve)]!;
    for (const [i, d] of decisions.entries()) {
      if (d.action !== "suppress") continue;
      assert.equal(d.reason, "realert");
      assert.equal(d.notifiedId, winner);
      const record = await store.getAlert(["r1", "r2", "r3"][i]!);
      assert.equal(record?.status, "suppressed");
      assert.equal(record?.notified_id, winner);
    }
    const window = await store.storm.window("fp-r");
    assert.equal(window?.notified_id, winner);
    assert.equal(window?.resolved_at, new Date(T0 + 2 * MIN).toISOString());
    const asked = await store.storm.decide(
      input(winner, T0 + 2 * MIN, resolved),
    );
    assert.ok(
      asked.action === "notify" && asked.resolve,
      "the resolve asking again (a crash before its email) is mailed again",
    );
    const later = await store.storm.decide(
      input("r4", T0 + 30 * MIN, resolved),
    );
    assert.equal(later.action === "suppress" && later.reason, "realert");
    // Within the first firing's 10 min window, and 4 min after the last alert: fresh, not doubled.
    const firing = await store.storm.decide(input("f3", T0 + 34 * MIN));
    assert.equal(firing.action, "notify");
    assert.equal(firing.action === "notify" && firing.windowMs, 10 * MIN);
    assert.equal((await store.storm.window("fp-r"))?.resolved_at, undefined);
    const again = await store.storm.decide(input("f4", T0 + 35 * MIN));
    assert.equal(again.action === "suppress" && again.notifiedId, "f3");
  },
}, {
  title:
    "a resolve of a fingerprint never mailed is suppressed; a silence holds a resolve; no digest timer for a resolve",
  async fn(store) {
    await alerts(store, ["r0", "f1", "r1", "r2"]);
    const orphan = await store.storm.decide(input("r0", T0, resolved));
    assert.equal(orphan.action === "suppress" && orphan.reason, "realert");
    assert.equal(orphan.action === "suppress" && orphan.notifiedId, undefined);
    assert.equal(
      (await store.storm.decide(input("f1", T0 + MIN))).action,
      "notify",
    );
    const silenced = await store.storm.decide(
      input("r1", T0 + 2 * MIN, { ...resolved, silenceId: "s1" }),
    );
    assert.equal(silenced.action === "suppress" && silenced.reason, "silence");
    const resolve = await store.storm.decide(
      input("r2", T0 + 3 * MIN, resolved),
    );
    assert.ok(resolve.action === "notify" && resolve.resolve);
    const due = await store.storm.claimTimers({
      now: new Date(T0 + 120 * MIN),
      leaseMs: MIN,
      limit: 10,
    });
    assert.deepEqual(
      due.map((t) => t.id),
      ["window:f1"],
      "the firing's digest only",
    );
  },
}, {
  title:
    "an acked fingerprint's resolve is mailed and the ack stays until quiet; a grouped fingerprint's resolve is not grouped",
  async fn(store) {
    await alerts(store, ["f1", "f2", "r1", "f3", "g1", "g2", "gr"]);
    await store.storm.decide(input("f1", T0));
    assert.equal(
      await store.storm.ack("fp-r", { actor: "bob", at: new Date(T0 + MIN) }),
      true,
    );
    const acked = await store.storm.decide(input("f2", T0 + 20 * MIN));
    assert.equal(acked.action === "suppress" && acked.reason, "ack");
    const resolve = await store.storm.decide(
      input("r1", T0 + 21 * MIN, resolved),
    );
    assert.ok(
      resolve.action === "notify" && resolve.resolve,
      "ack lets it through",
    );
    assert.equal((await store.storm.window("fp-r"))?.acked_by, "bob");
    const after = await store.storm.decide(input("f3", T0 + 30 * MIN));
    assert.equal(after.action === "suppress" && after.reason, "ack");

    const group = {
      key: "grp-r",
      paths: ["sig"],
      values: ["7"],
      waitMs: 30_000,
      intervalMs: 5 * MIN,
    };
    const g = (id: string, at: number, extra: Partial<StormInput> = {}) =>
      store.storm.decide(
        input(id, at, { fingerprint: "fp-g", group, ...extra }),
      );
    const joined = await g("g1", T0);
    assert.equal(joined.action === "suppress" && joined.reason, "group");
    await store.storm.flushGroup("grp-r", {
      now: new Date(T0 + 30_000),
      messageId: "<group.r@example.test>",
    });
    const groupResolve = await g("gr", T0 + MIN, resolved);
    assert.ok(
      groupResolve.action === "notify" && groupResolve.resolve,
      "its firing was mailed in the grouped email: the resolve goes alone",
    );
    assert.equal((await store.getAlert("gr"))?.group_key, undefined);
  },
}, {
  title:
    "a resolve while its firing waits in the group's batch joins the batch (one grouped email), and the fingerprint is resolved",
  async fn(store) {
    await alerts(store, ["g1", "g2", "gr", "gr2", "g3"]);
    const group = {
      key: "grp-w",
      paths: ["sig"],
      values: ["7"],
      waitMs: 30_000,
      intervalMs: 5 * MIN,
    };
    const g = (id: string, at: number, fp: string, extra = {}) =>
      store.storm.decide(input(id, at, { fingerprint: fp, group, ...extra }));
    await g("g1", T0, "fp-1");
    await g("g2", T0 + 1_000, "fp-2");
    const [first, second] = await Promise.all([
      g("gr", T0 + 10_000, "fp-1", resolved),
      g("gr2", T0 + 10_000, "fp-1", resolved),
    ]);
    const decided = [first!, second!].map((d) =>
      d.action === "suppress" ? d.reason : d.action
    ).sort();
    assert.deepEqual(decided, ["group", "realert"], "concurrent: one joins");
    const folded = first!.action === "suppress" && first!.reason === "group"
      ? "gr"
      : "gr2";
    assert.equal((await store.getAlert(folded))?.group_key, "grp-w");
    const window = await store.storm.window("fp-1");
    assert.equal(window?.notified_id, folded);
    assert.ok(window?.resolved_at, "the fingerprint is resolved");
    const batch = await store.storm.flushGroup("grp-w", {
      now: new Date(T0 + 30_000),
      messageId: "<group.w@example.test>",
    });
    assert.deepEqual(batch.map((a) => a.id), ["g1", "g2", folded]);
    const due = await store.storm.claimTimers({
      now: new Date(T0 + 120 * MIN),
      leaseMs: MIN,
      limit: 10,
    });
    assert.deepEqual(
      due.filter((t) => t.kind === "window").map((t) => t.id).sort(),
      ["window:g1", "window:g2"],
      "the firings' digests; none for the folded resolve",
    );
    const fresh = await g("g3", T0 + 2 * MIN, "fp-1");
    assert.equal(fresh.action === "suppress" && fresh.reason, "group");
    assert.equal((await store.storm.window("fp-1"))?.notified_id, "g3");
  },
}];
