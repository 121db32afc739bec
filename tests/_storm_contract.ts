/**
 * The storm part of the store contract, as tests every backend runs (`stormContract(open)` registers
 * them): decisions under concurrency, timers claimed once with a lease, silences and acks, and
 * resolves (`_storm_contract_resolve.ts`).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Store, StormInput } from "../core/store/store.ts";
import { RESOLVE_CASES } from "./_storm_contract_resolve.ts";

const T0 = Date.parse("2026-03-02T10:00:00Z");
const MIN = 60_000;

/** A decision's input for alert `alertId` at `at` (ms): fingerprint `fp-1` of detector `ids`. */
export function stormInput(
  alertId: string,
  at: number,
  extra: Partial<StormInput> = {},
): StormInput {
  return {
    alertId,
    detector: "ids",
    fingerprint: "fp-1",
    definition: "def",
    paths: ["src_ip"],
    values: ["192.0.2.1"],
    now: new Date(at),
    policy: { realertMs: 10 * MIN, digest: true, ackQuietMs: 60 * MIN },
    ...extra,
  };
}

/** One case of the storm contract: it gets a fresh, empty store. */
export interface StormCase {
  title: string;
  fn(store: Store): Promise<void>;
}

/**
 * Registers the storm contract tests for a backend; `open` gives a fresh, empty store. A backend that
 * shares one server across cases (PostgreSQL) runs {@link stormCases} as steps instead.
 */
export function stormContract(
  name: string,
  open: () => Promise<{ store: Store; close(): Promise<void> }>,
  options: { ignore?: boolean } = {},
): void {
  for (const { title, fn } of stormCases()) {
    Deno.test({
      name: `${name} storm: ${title}`,
      ignore: options.ignore ?? false,
      async fn() {
        const { store, close } = await open();
        try {
          await fn(store);
        } finally {
          await close();
        }
      },
    });
  }
}

/** The storm contract's cases. */
export function stormCases(): StormCase[] {
  const cases: StormCase[] = [];
  const test = (title: string, fn: (store: Store) => Promise<void>) =>
    cases.push({ title, fn });

  const alerts = (store: Store, ids: string[]) =>
    store.insertAlerts(
      ids.map((id) => ({
        id,
        detector: "ids",
        alert: { src_ip: "192.0.2.1" },
        status: "processing" as const,
        received_at: new Date(T0).toISOString(),
      })),
    );

  test("concurrent decisions on one fingerprint notify once, and the rest are recorded as suppressed", async (store) => {
    const ids = Array.from({ length: 8 }, (_, i) => `a${i}`);
    await alerts(store, ids);
    const decisions = await Promise.all(
      ids.map((id) => store.storm.decide(stormInput(id, T0 + 1000))),
    );
    const notified = decisions.filter((d) => d.action === "notify");
    assert.equal(notified.length, 1);
    const winner = ids[decisions.indexOf(notified[0]!)]!;
    for (const [i, d] of decisions.entries()) {
      if (d.action === "suppress") {
        assert.equal(d.reason, "realert");
        assert.equal(d.notifiedId, winner);
        const record = await store.getAlert(ids[i]!);
        assert.equal(record?.status, "suppressed");
        assert.equal(record?.notified_id, winner);
      }
    }
    assert.deepEqual(
      await store.storm.suppressedCounts({ notified_id: winner }),
      { realert: 7 },
    );
    const again = await store.storm.decide(stormInput(winner, T0 + 2000));
    assert.equal(again.action, "notify", "the notified alert asking again");
  });

  test("a window timer is scheduled once, claimed once under its lease, and never again once finished", async (store) => {
    await alerts(store, ["a"]);
    await store.storm.decide(stormInput("a", T0));
    assert.deepEqual(
      await store.storm.claimTimers({
        now: new Date(T0 + 9 * MIN),
        leaseMs: MIN,
        limit: 10,
      }),
      [],
    );
    const due = new Date(T0 + 10 * MIN);
    const claimed = await store.storm.claimTimers({
      now: due,
      leaseMs: MIN,
      limit: 10,
    });
    assert.deepEqual(claimed.map((t) => [t.id, t.kind, t.ref.alert_id]), [
      ["window:a", "window", "a"],
    ]);
    assert.deepEqual(
      await store.storm.claimTimers({ now: due, leaseMs: MIN, limit: 10 }),
      [],
      "leased",
    );
    const lapsed = new Date(T0 + 12 * MIN);
    assert.equal(
      (await store.storm.claimTimers({ now: lapsed, leaseMs: MIN, limit: 10 }))
        .length,
      1,
      "a lapsed lease (a crash) is claimed again",
    );
    await store.storm.finishTimer("window:a", lapsed);
    assert.deepEqual(
      await store.storm.claimTimers({
        now: new Date(T0 + 60 * MIN),
        leaseMs: MIN,
        limit: 10,
      }),
      [],
    );
  });

  test("silences: listed while active, suppress with their id and count, end early with their timer brought forward", async (store) => {
    await alerts(store, ["a", "b"]);
    const silence = await store.storm.addSilence({
      id: "s1",
      detector: "ids",
      match: 'alert.src_ip == "192.0.2.1"',
      starts_at: new Date(T0).toISOString(),
      ends_at: new Date(T0 + 240 * MIN).toISOString(),
      created_by: "alice",
      comment: "maintenance",
    }, new Date(T0));
    assert.equal(silence.suppressed, 0);
    assert.deepEqual(
      (await store.storm.listSilences({ now: new Date(T0 + MIN) })).map((s) =>
        s.id
      ),
      ["s1"],
    );
    const d = await store.storm.decide(
      stormInput("a", T0 + MIN, { silenceId: "s1" }),
    );
    assert.deepEqual(d, {
      action: "suppress",
      reason: "silence",
      silenceId: "s1",
    });
    assert.equal((await store.storm.getSilence("s1"))?.suppressed, 1);
    assert.equal((await store.getAlert("a"))?.silence_id, "s1");
    assert.equal(
      await store.storm.expireSilence("s1", new Date(T0 + 2 * MIN)),
      true,
    );
    assert.equal(
      await store.storm.expireSilence("s1", new Date(T0 + 3 * MIN)),
      false,
    );
    assert.deepEqual(
      await store.storm.listSilences({ now: new Date(T0 + 3 * MIN) }),
      [],
    );
    const timers = await store.storm.claimTimers({
      now: new Date(T0 + 3 * MIN),
      leaseMs: MIN,
      limit: 10,
    });
    assert.deepEqual(timers.map((t) => t.id), ["silence_end:s1"]);
    const after = await store.storm.decide(stormInput("b", T0 + 4 * MIN));
    assert.equal(after.action, "notify");
    assert.deepEqual(
      after.action === "notify" ? after.since?.count : undefined,
      1,
      "the next email counts what the silence held back",
    );
  });

  test("an ack suppresses until the fingerprint is quiet for ack_quiet", async (store) => {
    await alerts(store, ["a", "b", "c", "d"]);
    await store.storm.decide(stormInput("a", T0));
    assert.equal(
      await store.storm.ack("fp-1", { actor: "bob", at: new Date(T0 + MIN) }),
      true,
    );
    // After the realert window, still acked: the storm goes on (each alert within ack_quiet of the last).
    for (const [id, at] of [["b", 30], ["c", 80]] as const) {
      const d = await store.storm.decide(stormInput(id, T0 + at * MIN));
      assert.equal(d.action === "suppress" && d.reason, "ack");
    }
    const quiet = await store.storm.decide(stormInput("d", T0 + 141 * MIN));
    assert.equal(quiet.action, "notify", "quiet for more than 60 min");
    assert.equal((await store.storm.window("fp-1"))?.acked_at, undefined);
  });

  test("the breaker counts concurrent emails of a detector exactly: the one over the limit switches storm mode on once", async (store) => {
    const ids = Array.from({ length: 7 }, (_, i) => `b${i}`);
    await alerts(store, ids);
    const outcomes = await Promise.all(
      ids.map((id) =>
        store.storm.breaker({
          alertId: id,
          detector: "ids",
          now: new Date(T0 + 1000),
          perHour: 4,
        })
      ),
    );
    assert.equal(outcomes.filter((o) => !o.held).length, 4);
    assert.equal(outcomes.filter((o) => o.notice === "on").length, 1);
    for (const [i, o] of outcomes.entries()) {
      if (o.held) {
        assert.equal((await store.getAlert(ids[i]!))?.suppressed_by, "breaker");
      }
    }
    const [timer] = await store.storm.claimTimers({
      now: new Date(T0 + 16 * MIN),
      leaseMs: MIN,
      limit: 10,
    });
    assert.equal(timer?.kind, "breaker");
    const tick = await store.storm.breakerTick({
      detector: "ids",
      now: new Date(T0 + 16 * MIN),
      perHour: 4,
    });
    assert.equal(tick?.count, 3);
    assert.equal(tick?.ended, false, "12/h is still over 4/h");
    const quiet = await store.storm.breakerTick({
      detector: "ids",
      now: new Date(T0 + 31 * MIN),
      perHour: 4,
    });
    assert.deepEqual(quiet && [quiet.ended, quiet.count], [true, 0]);
    assert.equal(
      await store.storm.breakerTick({
        detector: "ids",
        now: new Date(T0 + 46 * MIN),
        perHour: 4,
      }),
      undefined,
      "off: no tick",
    );
  });

  test("a group batches new fingerprints: joined in the decision, handed over once by flushGroup", async (store) => {
    await alerts(store, ["g1", "g2", "g3"]);
    const group = {
      key: "grp-1",
      paths: ["sig"],
      values: ["7"],
      waitMs: 30_000,
      intervalMs: 5 * MIN,
    };
    const decisions = await Promise.all(
      ["g1", "g2"].map((id, i) =>
        store.storm.decide(
          stormInput(id, T0, { fingerprint: `fp-g${i}`, group }),
        )
      ),
    );
    assert.deepEqual(
      decisions.map((d) => d.action === "suppress" && d.reason),
      [
        "group",
        "group",
      ],
    );
    const [timer] = await store.storm.claimTimers({
      now: new Date(T0 + 30_000),
      leaseMs: MIN,
      limit: 10,
    });
    assert.equal(timer?.kind, "group");
    const batch = await store.storm.flushGroup("grp-1", {
      now: new Date(T0 + 30_000),
      messageId: "<group.test@example.test>",
    });
    assert.deepEqual(batch.map((a) => a.id).sort(), ["g1", "g2"]);
    const leader = batch[0]!.id;
    const other = batch[1]!.id;
    assert.equal((await store.getAlert(other))?.notified_id, leader);
    assert.equal((await store.getAlert(leader))?.notified_id, undefined);
    assert.equal(
      (await store.getAlert(leader))?.message_id,
      "<group.test@example.test>",
    );
    assert.deepEqual(
      await store.storm.flushGroup("grp-1", {
        now: new Date(T0 + 31_000),
        messageId: "<group.again@example.test>",
      }),
      [],
      "handed over once",
    );
    const again = await store.storm.flushGroup("grp-1", {
      now: new Date(T0 + 32_000),
      messageId: "<group.test@example.test>",
    });
    assert.deepEqual(
      again.map((a) => [a.id, a.notified_id, a.message_id]),
      batch.map((a) => [a.id, a.notified_id, a.message_id]),
      "its own email, run again after a failed send, gets the same batch",
    );
    const later = await store.storm.decide(
      stormInput("g3", T0 + MIN, { fingerprint: "fp-g3", group }),
    );
    assert.equal(later.action === "suppress" && later.reason, "group");
    const due = await store.storm.claimTimers({
      now: new Date(T0 + 30_000 + 5 * MIN),
      leaseMs: MIN,
      limit: 10,
    });
    assert.ok(
      due.some((t) => t.kind === "group"),
      "the next batch is due one interval after the last",
    );
  });

  test("listAlerts({ text }) finds alerts by any value in their JSON (the /alerts search)", async (store) => {
    await store.insertAlerts([
      {
        id: "t1",
        detector: "ids",
        alert: { src_ip: "192.0.2.1", host: "web-1" },
      },
      {
        id: "t2",
        detector: "ids",
        alert: { src_ip: "198.51.100.7", host: "db-2" },
      },
    ]);
    assert.deepEqual(
      (await store.listAlerts({ text: "198.51.100.7" })).map((a) => a.id),
      ["t2"],
    );
    assert.deepEqual(
      (await store.listAlerts({ text: "web-1" })).map((a) => a.id),
      ["t1"],
    );
    assert.deepEqual(await store.listAlerts({ text: "nowhere" }), []);
  });
  cases.push(...RESOLVE_CASES);
  return cases;
}
