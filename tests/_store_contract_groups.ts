/**
 * The store contract's cases for `listAlertGroups` (the grouped `/alerts`): a storm is one row per
 * fingerprint with its count, first and last seen, newest alert, window and notified alert; alerts
 * without a fingerprint stay one row each; filters narrow the alerts before they are grouped; the
 * (last seen, key) cursor visits every group once. Fingerprints are made by `storm.decide`, as the
 * pipeline makes them.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Store, StormInput } from "../core/store/store.ts";
import type { ContractCase } from "./_store_fixtures.ts";

export const T0 = Date.parse("2030-01-01T10:00:00.000Z");
export const SEC = 1000;
export const at = (ms: number) => new Date(T0 + ms).toISOString();

/**
 * Stores `count` alerts of one fingerprint, one a second from `start` ms after T0, and decides each
 * (a 1 h realert window: the first is mailed with a subject and `severity`, the rest suppressed,
 * without a severity of their own, as the pipeline records them).
 */
export async function storm(
  store: Store,
  options: {
    prefix: string;
    count: number;
    start?: number;
    ip: string;
    detector?: string;
    severity?: string;
  },
): Promise<string[]> {
  const detector = options.detector ?? "ids";
  const start = options.start ?? 0;
  const ids = Array.from(
    { length: options.count },
    (_, i) => `${options.prefix}${String(i).padStart(5, "0")}`,
  );
  await store.insertAlerts(ids.map((id, i) => ({
    id,
    detector,
    alert: { src_ip: options.ip, signature_id: 2001 },
    received_at: at(start + i * SEC),
    status: "processing" as const,
  })));
  for (const [i, id] of ids.entries()) {
    const input: StormInput = {
      alertId: id,
      detector,
      fingerprint: `fp-${options.prefix}`,
      definition: "def",
      paths: ["src_ip"],
      values: [options.ip],
      now: new Date(T0 + start + i * SEC),
      policy: { realertMs: 3_600_000, digest: true, ackQuietMs: 3_600_000 },
    };
    const decision = await store.storm.decide(input);
    if (decision.action === "notify") {
      await store.updateAlert(id, {
        status: "delivered",
        subject: `IDS: ${options.ip}`,
        ...(options.severity ? { severity: options.severity } : {}),
      });
    }
  }
  return ids;
}

/** The contract's cases for grouped lists. */
export const GROUPS_CASES: ContractCase[] = [
  {
    name:
      "listAlertGroups() shows a storm as one row per fingerprint and a plain alert as its own row",
    async fn(store) {
      const big = await storm(store, {
        prefix: "s",
        count: 120,
        ip: "192.0.2.1",
      });
      await storm(store, {
        prefix: "t",
        count: 3,
        start: 30 * SEC,
        ip: "198.51.100.7",
        severity: "high",
      });
      await store.insertAlerts([
        {
          id: "plain1",
          detector: "web",
          alert: { host: "web-1" },
          received_at: at(500 * SEC),
          status: "delivered",
        },
        {
          id: "plain2",
          detector: "web",
          alert: { host: "web-1" },
          received_at: at(501 * SEC),
          status: "delivered",
        },
      ]);
      await store.storm.ack("fp-t", { actor: "bob", at: new Date(T0) });
      const groups = await store.listAlertGroups();
      assert.deepEqual(
        groups.map((g) => [g.key, g.count]),
        [["a:plain2", 1], ["a:plain1", 1], ["f:fp-s", 120], ["f:fp-t", 3]],
      );
      const s = groups[2]!;
      assert.equal(s.fingerprint, "fp-s");
      assert.equal(s.detector, "ids");
      assert.equal(s.first_seen_at, at(0));
      assert.equal(s.last_seen_at, at(119 * SEC));
      assert.equal(s.latest.id, big[119]);
      assert.equal(s.latest.status, "suppressed");
      assert.equal(s.latest.suppressed_by, "realert");
      assert.equal(s.latest.notified_id, big[0]);
      assert.equal(s.notified?.id, big[0]);
      assert.equal(s.notified?.subject, "IDS: 192.0.2.1");
      assert.equal(s.notified?.status, "delivered");
      assert.deepEqual(s.window?.paths, ["src_ip"]);
      assert.deepEqual(s.window?.values, ["192.0.2.1"]);
      assert.equal(s.window?.total, 120);
      assert.equal(s.window?.acked_by, undefined);
      const t = groups[3]!;
      assert.equal(t.notified?.severity, "high");
      assert.equal(t.window?.acked_by, "bob");
      assert.equal(t.window?.acked_at, at(0));
      const plain = groups[0]!;
      assert.equal(plain.fingerprint, undefined);
      assert.equal(plain.window, undefined);
      assert.equal(plain.notified, undefined);
      assert.equal(plain.latest.id, "plain2");
      assert.equal(plain.detector, "web");
      assert.deepEqual(plain.latest.jira_keys, []);
      assert.deepEqual(await store.listAlertGroups({ detector: "none" }), []);
      await assert.rejects(store.listAlertGroups({ limit: 0 }), RangeError);
    },
  },
  {
    name:
      "listAlertGroups() filters alerts by detector, status, severity, text and time before grouping",
    async fn(store) {
      const s = await storm(store, { prefix: "s", count: 60, ip: "192.0.2.1" });
      await storm(store, {
        prefix: "t",
        count: 10,
        ip: "198.51.100.7",
        severity: "high",
      });
      await storm(store, {
        prefix: "u",
        count: 5,
        ip: "192.0.2.1",
        detector: "fw",
      });
      const keys = async (query: Parameters<Store["listAlertGroups"]>[0]) =>
        (await store.listAlertGroups(query)).map((g) => `${g.key}=${g.count}`);
      assert.deepEqual(await keys({ text: "198.51.100.7" }), ["f:fp-t=10"]);
      await store.insertAlerts([{
        id: "win",
        detector: "edr",
        alert: { path: 'C:\\Users\\bob\\evil "x".exe', user: "bob" },
        received_at: at(-SEC),
      }]);
      assert.deepEqual(await keys({ text: 'C:\\Users\\bob\\evil "x"' }), [
        "a:win=1",
      ], "a value with backslashes and quotes, as typed");
      assert.deepEqual(await keys({ text: '"user":"bob"' }), ["a:win=1"]);
      assert.deepEqual(await keys({ text: "192.0.2.1" }), [
        "f:fp-s=60",
        "f:fp-u=5",
      ]);
      assert.deepEqual(
        await keys({ suppressed_by: "realert", detector: "ids" }),
        [
          "f:fp-s=59",
          "f:fp-t=9",
        ],
      );
      assert.deepEqual(await keys({ silence_id: "none" }), []);
      // Time and detector alone take the index-only plan: the same groups and counts.
      assert.deepEqual(await keys({ detector: "fw" }), ["f:fp-u=5"]);
      assert.deepEqual(
        await keys({ after: at(20 * SEC), until: at(29 * SEC) }),
        [
          "f:fp-s=10",
        ],
      );
      assert.deepEqual(
        await keys({ after: at(5 * SEC), until: at(9 * SEC), detector: "ids" }),
        ["f:fp-t=5", "f:fp-s=5"],
      );
      assert.deepEqual(await keys({ text: "192.0.2.1", detector: "fw" }), [
        "f:fp-u=5",
      ]);
      assert.deepEqual(
        await keys({ severity: "high" }),
        ["f:fp-t=10"],
        "suppressed alerts count with the severity of their notified alert",
      );
      assert.deepEqual(
        await keys({ status: "delivered" }),
        ["f:fp-u=1", "f:fp-t=1", "f:fp-s=1"],
        "one last seen: by key, descending",
      );
      const window = await store.listAlertGroups({
        after: at(20 * SEC),
        until: at(29 * SEC),
        detector: "ids",
        status: "suppressed",
      });
      assert.deepEqual(window.map((g) => [g.key, g.count]), [["f:fp-s", 10]]);
      assert.equal(window[0]!.first_seen_at, at(20 * SEC));
      assert.equal(window[0]!.last_seen_at, at(29 * SEC));
      assert.equal(
        window[0]!.latest.id,
        s[59],
        "the newest alert of the fingerprint, outside the filter too",
      );
      assert.equal(window[0]!.window?.total, 60);
      await assert.rejects(
        store.listAlertGroups({ after: "yesterday" }),
        RangeError,
      );
    },
  },
  {
    name:
      "listAlertGroups() pages groups that share a last seen with a (last seen, key) cursor, filters kept",
    async fn(store) {
      const same = at(0);
      await store.insertAlerts(
        ["g3", "g6", "g0", "g5", "g1", "g4", "g2"].map((id) => ({
          id,
          detector: "web",
          alert: { host: "web-1" },
          received_at: same,
        })).concat([{
          id: "old",
          detector: "web",
          alert: { host: "web-1" },
          received_at: at(-SEC),
        }, {
          id: "other",
          detector: "web",
          alert: { host: "db-2" },
          received_at: at(-SEC),
        }]),
      );
      await storm(store, {
        prefix: "s",
        count: 4,
        start: -10 * SEC,
        ip: "web-1",
      });
      const seen: string[] = [];
      let cursor: { before: string; before_key: string } | undefined;
      for (let pages = 0; pages < 10; pages++) {
        const page = await store.listAlertGroups({
          limit: 3,
          text: "web-1",
          ...cursor,
        });
        seen.push(...page.map((g) => g.key));
        if (page.length < 3) break;
        const last = page[page.length - 1]!;
        cursor = { before: last.last_seen_at, before_key: last.key };
      }
      assert.deepEqual(seen, [
        "a:g6",
        "a:g5",
        "a:g4",
        "a:g3",
        "a:g2",
        "a:g1",
        "a:g0",
        "a:old",
        "f:fp-s",
      ]);
      // Without the search (the index-only plan), the same walk, "other" included.
      const all: string[] = [];
      cursor = undefined;
      for (let pages = 0; pages < 10; pages++) {
        const page = await store.listAlertGroups({ limit: 2, ...cursor });
        all.push(...page.map((g) => `${g.key}=${g.count}`));
        if (page.length < 2) break;
        const last = page[page.length - 1]!;
        cursor = { before: last.last_seen_at, before_key: last.key };
      }
      assert.deepEqual(all, [
        ...["g6", "g5", "g4", "g3", "g2", "g1", "g0", "other", "old"].map((
          id,
        ) => `a:${id}=1`),
        "f:fp-s=4",
      ]);
      assert.deepEqual(
        (await store.listAlertGroups({ before: same })).map((g) => g.key),
        ["a:other", "a:old", "f:fp-s"],
      );
    },
  },
];
