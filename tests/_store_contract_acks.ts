/**
 * The store contract's case for `listAcks` (the acked fingerprints of `/silences`): every acked
 * fingerprint, most recently acked first, an ended ack left out.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { ContractCase } from "./_store_fixtures.ts";
import { at, SEC, storm, T0 } from "./_store_contract_groups.ts";

/** The contract's cases for acks. */
export const ACKS_CASES: ContractCase[] = [
  {
    name: "listAcks() lists acked fingerprints, most recently acked first",
    async fn(store) {
      await storm(store, { prefix: "s", count: 2, ip: "192.0.2.1" });
      await storm(store, { prefix: "t", count: 2, ip: "192.0.2.2" });
      await storm(store, { prefix: "u", count: 2, ip: "192.0.2.3" });
      assert.deepEqual(await store.listAcks(), []);
      await store.storm.ack("fp-s", { actor: "ana", at: new Date(T0) });
      await store.storm.ack("fp-t", { actor: "bob", at: new Date(T0 + SEC) });
      await store.storm.ack("fp-u", {
        actor: "cy",
        at: new Date(T0 + 2 * SEC),
      });
      await store.storm.unack("fp-t");
      const acks = await store.listAcks();
      assert.deepEqual(
        acks.map((w) => [w.fingerprint, w.acked_by, w.acked_at]),
        [["fp-u", "cy", at(2 * SEC)], ["fp-s", "ana", at(0)]],
      );
      assert.deepEqual(acks[0]!.values, ["192.0.2.3"]);
      assert.equal((await store.listAcks({ limit: 1 })).length, 1);
      await assert.rejects(store.listAcks({ limit: 0 }), RangeError);
    },
  },
];
