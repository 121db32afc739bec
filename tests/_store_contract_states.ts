/**
 * The store contract's cases for the state filter of `listAlertGroups` (`/alerts?state=`): a storm's
 * state (notifying, suppressed, silenced, acked) is what its next alert meets at the filter's `now`,
 * decided in the database before the page is cut, alike with the index-only plan (time, detector) and
 * the grouped plan (any other filter); each detector's `ack_quiet` decides when its acks are over.
 *
 * @module
 */
import assert from "node:assert/strict";
import type {
  AlertGroupQuery,
  GroupState,
  StateFilter,
  Store,
} from "../core/store/store.ts";
import type { ContractCase } from "./_store_fixtures.ts";
import { at, SEC, storm, T0 } from "./_store_contract_groups.ts";

const HOUR = 3_600_000;

/** One storm in each state at T0 + 100 s, and plain alerts notifying, held by a silence, by the breaker. */
async function statesAt100s(store: Store): Promise<void> {
  await storm(store, { prefix: "n", count: 1, ip: "192.0.2.1" });
  await storm(store, {
    prefix: "r",
    count: 3,
    start: 10 * SEC,
    ip: "192.0.2.2",
  });
  await storm(store, {
    prefix: "a",
    count: 2,
    start: 20 * SEC,
    ip: "192.0.2.3",
  });
  await store.storm.ack("fp-a", { actor: "bob", at: new Date(T0 + 22 * SEC) });
  const silence = await store.storm.addSilence({
    id: "sil-1",
    detector: "ids",
    starts_at: at(0),
    ends_at: at(HOUR),
    created_by: "carol",
    comment: "",
  }, new Date(T0));
  await store.insertAlerts([
    {
      id: "x1",
      detector: "ids",
      alert: { src_ip: "192.0.2.4" },
      received_at: at(30 * SEC),
      status: "processing",
    },
    {
      id: "plain",
      detector: "web",
      alert: { host: "web-1" },
      received_at: at(40 * SEC),
      status: "delivered",
    },
    {
      id: "quiet",
      detector: "web",
      alert: { host: "web-2" },
      received_at: at(41 * SEC),
      status: "processing",
    },
    {
      id: "held",
      detector: "web",
      alert: { host: "web-3" },
      received_at: at(42 * SEC),
      status: "processing",
    },
  ]);
  await store.storm.decide({
    alertId: "x1",
    detector: "ids",
    fingerprint: "fp-x",
    definition: "def",
    paths: ["src_ip"],
    values: ["192.0.2.4"],
    now: new Date(T0 + 30 * SEC),
    policy: { realertMs: HOUR, digest: true, ackQuietMs: HOUR },
    silenceId: silence.id,
  });
  await store.storm.silenced("quiet", silence.id, new Date(T0 + 41 * SEC));
  // Over a breaker of 0 an hour: held for the storm-mode digest.
  const breaker = await store.storm.breaker({
    alertId: "held",
    detector: "web",
    now: new Date(T0 + 42 * SEC),
    perHour: 0,
  });
  assert.equal(breaker.held, true);
}

function state(
  is: GroupState,
  nowMs: number,
  ackQuietMs: Record<string, number> = { ids: HOUR },
): StateFilter {
  return {
    is,
    now: new Date(T0 + nowMs).toISOString(),
    ackQuietMs,
    defaultAckQuietMs: 24 * HOUR,
  };
}

/** The contract's cases for the state filter. */
export const STATES_CASES: ContractCase[] = [
  {
    name:
      "listAlertGroups({ state }) keeps the storms in that state at its now, before the page is cut",
    async fn(store) {
      await statesAt100s(store);
      const keys = async (query: AlertGroupQuery) =>
        (await store.listAlertGroups(query)).map((g) => g.key);
      const now = 100 * SEC;
      assert.deepEqual(await keys({ state: state("notifying", now) }), [
        "a:plain",
        "f:fp-n",
      ]);
      assert.deepEqual(await keys({ state: state("suppressed", now) }), [
        "a:held",
        "f:fp-r",
      ]);
      assert.deepEqual(await keys({ state: state("silenced", now) }), [
        "a:quiet",
        "f:fp-x",
      ]);
      assert.deepEqual(await keys({ state: state("acked", now) }), ["f:fp-a"]);
      // The index-only plan (detector, time) and the grouped one (status) agree.
      assert.deepEqual(
        await keys({ state: state("silenced", now), detector: "ids" }),
        ["f:fp-x"],
      );
      assert.deepEqual(
        await keys({ state: state("suppressed", now), status: "suppressed" }),
        ["a:held", "f:fp-r"],
      );
      assert.deepEqual(
        await keys({ state: state("notifying", now), after: at(35 * SEC) }),
        ["a:plain"],
      );
      // The page is cut after the state: a full page, and the cursor goes on from it.
      assert.deepEqual(
        await keys({ state: state("suppressed", now), limit: 1 }),
        ["a:held"],
      );
      assert.deepEqual(
        await keys({
          state: state("suppressed", now),
          limit: 1,
          before: at(42 * SEC),
          before_key: "a:held",
        }),
        ["f:fp-r"],
      );
      // The detector's ack_quiet: 1 min after fp-a's last alert its ack is over (its window still open).
      assert.deepEqual(
        await keys({ state: state("acked", now, { ids: 60_000 }) }),
        [],
      );
      assert.deepEqual(
        await keys({ state: state("suppressed", now, { ids: 60_000 }) }),
        ["a:held", "f:fp-a", "f:fp-r"],
      );
      // Two hours on: the silence and the windows ended, the ack is quiet; the breaker still holds.
      assert.deepEqual(await keys({ state: state("notifying", 2 * HOUR) }), [
        "a:quiet",
        "a:plain",
        "f:fp-x",
        "f:fp-a",
        "f:fp-r",
        "f:fp-n",
      ]);
      assert.deepEqual(await keys({ state: state("suppressed", 2 * HOUR) }), [
        "a:held",
      ]);
    },
  },
];
