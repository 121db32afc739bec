/**
 * Storm control's groups and PagerDuty (issue 11): a grouped email pages PagerDuty once per fingerprint
 * still firing in its batch, keyed by the fingerprint as an ungrouped alert is, so each fingerprint's
 * later resolve closes its own incident and none is left open; a fingerprint that fired and resolved
 * within the group's wait pages nobody. On SQLite and on a throwaway PostgreSQL server; a loopback
 * fake PagerDuty that checks the Events API v2 shapes, real SMTP on loopback, injected clock.
 */
import assert from "node:assert/strict";
import { deliverAlertChannels } from "../core/channels/channels.ts";
import { hasPostgres } from "./_postgres.ts";
import { fakePagerDuty } from "./_pagerduty.ts";
import {
  onPostgres,
  type StormHarness,
  stormHarness,
  suricata,
} from "./_storm.ts";

const SEC = 1_000;
const MIN = 60_000;
const ROUTING_KEY = "0123456789abcdef0123456789abcdef";

type PdEvent = {
  event_action: string;
  dedup_key: string;
  payload?: { summary: string };
};

function project(url: string, store: Record<string, unknown> = {}) {
  return stormHarness({
    ids: {
      subject: "IDS {alert.signature} from {src_ip}",
      enrichments: [],
      notify: ["email", "oncall_pd"],
      storm: {
        fingerprint: ["alert.signature_id", "src_ip"],
        realert: "10m",
        group: { by: ["alert.signature_id"], wait: "30s", interval: "5m" },
      },
    },
  }, {
    ...store,
    channels: {
      oncall_pd: {
        type: "pagerduty",
        routing_key: "${env:PD_ROUTING_KEY}",
        api_url: url,
      },
    },
  }, { PD_ROUTING_KEY: ROUTING_KEY });
}

const alert = (ip: string, status: string) => suricata(2001, ip, { status });

function cases(
  name: string,
  open: (url: string) => Promise<StormHarness>,
  ignore: boolean,
) {
  Deno.test({
    name:
      `storm group pagerduty (${name}): one trigger per fingerprint of the grouped email, each closed by its fingerprint's resolve; one that resolved in the wait pages nobody`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const pd = fakePagerDuty();
      try {
        await using h = await open(pd.url);
        const a = await h.ingest(alert("192.0.2.1", "firing"));
        h.advance(SEC);
        const b = await h.ingest(alert("192.0.2.2", "firing"));
        h.advance(SEC);
        const c = await h.ingest(alert("192.0.2.3", "firing"));
        h.advance(SEC);
        const cEnd = await h.ingest(alert("192.0.2.3", "resolved"));
        for (const s of [a, b, c, cEnd]) assert.equal(s.suppressed_by, "group");
        h.advance(30 * SEC);
        assert.equal(await h.runTimers(), 1);
        const [grouped] = await h.smtp.waitFor(1);
        assert.equal(
          grouped!.parsed.subject,
          "ids: 3 new alerts with alert.signature_id 2001 (1 already resolved)",
        );
        for (const s of [a, b, c, cEnd]) {
          await deliverAlertChannels(h.runtime, s.alert_id);
        }
        const triggers = (pd.events as PdEvent[]).filter((e) =>
          e.event_action === "trigger"
        );
        assert.deepEqual(
          triggers.map((e) => e.payload?.summary).sort(),
          [
            "IDS ET RULE 2001 from 192.0.2.1",
            "IDS ET RULE 2001 from 192.0.2.2",
          ],
          "one page per fingerprint still firing",
        );
        const fingerprints = await Promise.all(
          [a, b].map(async (s) =>
            (await h.runtime.store.getAlert(s.alert_id))!.fingerprint!
          ),
        );
        assert.deepEqual(
          triggers.map((e) => e.dedup_key).sort(),
          [...fingerprints].sort(),
          "keyed by the fingerprint, as an ungrouped alert",
        );

        h.advance(MIN);
        const aEnd = await h.ingest(alert("192.0.2.1", "resolved"));
        h.advance(MIN);
        const bEnd = await h.ingest(alert("192.0.2.2", "resolved"));
        for (const s of [aEnd, bEnd]) {
          assert.equal(s.sent, true);
          assert.equal(s.channels?.[0]?.status, "delivered");
        }
        const events = pd.events as PdEvent[];
        const resolved = new Set(
          events.filter((e) => e.event_action === "resolve").map((e) =>
            e.dedup_key
          ),
        );
        const unresolved = events.filter((e) =>
          e.event_action === "trigger" && !resolved.has(e.dedup_key)
        ).map((e) => e.dedup_key);
        assert.deepEqual(
          unresolved,
          [],
          "every triggered incident is resolved",
        );
        assert.equal(events.length, 4);
      } finally {
        await pd.close();
      }
    },
  });
}

cases("SQLite", (url) => project(url), false);

cases(
  "PostgreSQL",
  (url) => onPostgres((store) => project(url, store)),
  !hasPostgres(),
);
