/**
 * The store contract's cases for single-use nonces, action runs and ping (run by `tests/_store_contract.ts`'s users).
 *
 * @module
 */
import assert from "node:assert/strict";
import { alert, type ContractCase, run } from "./_store_fixtures.ts";

/** The cases for single-use nonces, action runs and ping. */
export const RUNS_CASES: ContractCase[] = [
  {
    name:
      "consumeNonce() lets exactly one of two concurrent calls create the run",
    async fn(store) {
      await store.insertAlerts([alert("a1")]);
      const results = await Promise.all([
        store.consumeNonce(run("n1", { actor: "alice@example.test" })),
        store.consumeNonce(run("n1", { actor: "bob@example.test" })),
      ]);
      assert.deepEqual(results.map((r) => r.created).sort(), [false, true]);
      const winner = results.find((r) => r.created)!.run.actor;
      assert.ok(
        results.every((r) => r.run.actor === winner),
        "both calls see the stored run",
      );
      const replay = await store.consumeNonce(
        run("n1", { actor: "mallory@example.test" }),
      );
      assert.equal(replay.created, false);
      assert.equal(replay.run.actor, winner);
      await assert.rejects(
        store.consumeNonce(run("n2", { alert_id: "missing" })),
        /no such alert/,
      );
    },
  },
  {
    name: "consumeNonce() is single-use across two stores on one database",
    async fn(store, { openOther }) {
      await store.insertAlerts([alert("a1")]);
      const other = await openOther();
      try {
        const results = await Promise.all([
          store.consumeNonce(run("n1")),
          other.consumeNonce(run("n1")),
        ]);
        assert.deepEqual(results.map((r) => r.created).sort(), [false, true]);
      } finally {
        await other.close();
      }
    },
  },
  {
    name:
      "listActionRuns() returns an alert's runs oldest first, with finishActionRun() updates",
    async fn(store) {
      await store.insertAlerts([alert("a1"), alert("a2")]);
      await store.consumeNonce(
        run("late", { started_at: "2030-01-01T00:02:00.000Z" }),
      );
      await store.consumeNonce(
        run("early", {
          started_at: "2030-01-01T00:01:00.000Z",
          client_ip: "127.0.0.1",
        }),
      );
      await store.consumeNonce(run("other", { alert_id: "a2" }));
      await store.finishActionRun("early", {
        status: "ok",
        finished_at: "2030-01-01T00:01:05.000Z",
        steps: [{ name: "jira", status: "ok", value: "SEC-2" }],
      });
      const runs = await store.listActionRuns("a1");
      assert.deepEqual(runs.map((r) => r.nonce), ["early", "late"]);
      assert.deepEqual(runs[0], {
        ...run("early", {
          started_at: "2030-01-01T00:01:00.000Z",
          client_ip: "127.0.0.1",
        }),
        status: "ok",
        finished_at: "2030-01-01T00:01:05.000Z",
        steps: [{ name: "jira", status: "ok", value: "SEC-2" }],
      });
      assert.equal("finished_at" in runs[1]!, false);
      assert.deepEqual(await store.listActionRuns("missing"), []);
      await assert.rejects(
        store.finishActionRun("missing", { status: "ok" }),
        /no such run/,
      );
    },
  },
  {
    name: "ping() reports false instead of throwing once the store is closed",
    async fn(_store, { openOther }) {
      const other = await openOther();
      assert.equal(await other.ping(), true);
      await other.close();
      assert.equal(await other.ping(), false);
    },
  },
];
