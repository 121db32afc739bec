/**
 * Storm control's groups and resolved alerts (issue 11): a resolve that arrives while its firing still
 * waits in the group's batch is folded into the grouped email (nobody was told it fired, so one email
 * says it fired and ended, and no orphan "Resolved:" goes first); a resolve after the grouped email is
 * mailed on its own, threaded under it. On SQLite and on a throwaway PostgreSQL server; real SMTP
 * server on loopback, injected clock, timers run as `serve` runs them.
 */
import assert from "node:assert/strict";
import { hasPostgres } from "./_postgres.ts";
import {
  onPostgres,
  type StormHarness,
  stormHarness,
  suricata,
} from "./_storm.ts";

const SEC = 1_000;
const MIN = 60_000;

const IDS = {
  ids: {
    subject: "IDS {alert.signature} from {src_ip}",
    enrichments: [],
    storm: {
      fingerprint: ["alert.signature_id", "src_ip"],
      realert: "10m",
      group: { by: ["alert.signature_id"], wait: "30s", interval: "5m" },
    },
  },
};

const firing = (ip: string) => suricata(2001, ip, { status: "firing" });
const resolved = (ip: string) => suricata(2001, ip, { status: "resolved" });

function cases(
  name: string,
  open: () => Promise<StormHarness>,
  ignore: boolean,
) {
  Deno.test({
    name:
      `storm group resolve (${name}): a resolve during the group's wait is folded into the grouped email, which says it resolved; nothing is mailed before it`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await using h = await open();
      const a = await h.ingest(firing("192.0.2.1"));
      h.advance(SEC);
      const b = await h.ingest(firing("192.0.2.2"));
      h.advance(10 * SEC);
      const end = await h.ingest(resolved("192.0.2.1"));
      assert.equal(end.sent, false, "not mailed ahead of the grouped email");
      assert.equal(end.suppressed_by, "group", "it joins its firing's batch");
      assert.equal(h.smtp.messages.length, 0);

      h.advance(20 * SEC); // 30 s after the first: the batch is due
      assert.equal(await h.runTimers(), 1);
      const [grouped] = await h.smtp.waitFor(1);
      assert.equal(
        grouped!.parsed.subject,
        "ids: 2 new alerts with alert.signature_id 2001 (1 already resolved)",
      );
      const text = grouped!.parsed.text ?? "";
      assert.match(text, /Already resolved: 1/);
      assert.ok(
        text.includes(`resolved http://127.0.0.1:8080/alerts/${end.alert_id}`),
        text,
      );
      for (const id of [a.alert_id, b.alert_id]) {
        assert.ok(text.includes(`/alerts/${id}`), text);
        assert.ok(
          !text.includes(`resolved http://127.0.0.1:8080/alerts/${id}`),
        );
      }
      assert.match(
        text,
        /src_ip: .*192\.0\.2\.1 \(1\)/,
        "values count the firing ones",
      );
      const record = await h.runtime.store.getAlert(end.alert_id);
      assert.equal(record?.message_id, grouped!.parsed.messageId);
      assert.equal(
        record?.notified_id,
        a.alert_id,
        "covered by the batch's first",
      );

      // The fingerprint is resolved: a repeated resolve is held, its next firing opens a fresh window
      // (in the group's next batch, as any new window of a grouped detector).
      h.advance(MIN);
      const again = await h.ingest(resolved("192.0.2.1"));
      assert.equal(again.suppressed_by, "realert");
      assert.equal(again.notified_id, end.alert_id);
      const back = await h.ingest(firing("192.0.2.1"));
      assert.equal(back.suppressed_by, "group", "fired again: a new window");
      const window = await h.runtime.store.storm.window(record!.fingerprint!);
      assert.equal(window?.notified_id, back.alert_id);
      assert.equal(window?.window_ms, 10 * MIN);
      assert.equal(window?.resolved_at, undefined);
      h.advance(4 * MIN); // 5 min after the first batch
      assert.equal(await h.runTimers(), 1);
      const [, next] = await h.smtp.waitFor(2);
      assert.equal(
        next!.parsed.subject,
        "ids: 1 new alert with alert.signature_id 2001",
      );

      // Every window closed: no digest (nothing was held in them), nothing mailed twice.
      h.advance(20 * MIN);
      await h.runTimers();
      assert.deepEqual(h.smtp.messages.map((m) => m.parsed.subject), [
        grouped!.parsed.subject,
        next!.parsed.subject,
      ]);
    },
  });

  Deno.test({
    name:
      `storm group resolve (${name}): a resolve after the grouped email is mailed on its own, threaded under it`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await using h = await open();
      await h.ingest(firing("192.0.2.1"));
      await h.ingest(firing("192.0.2.2"));
      h.advance(30 * SEC);
      assert.equal(await h.runTimers(), 1);
      const [grouped] = await h.smtp.waitFor(1);
      assert.equal(
        grouped!.parsed.subject,
        "ids: 2 new alerts with alert.signature_id 2001",
      );
      h.advance(MIN);
      const end = await h.ingest(resolved("192.0.2.2"));
      assert.equal(end.sent, true);
      assert.equal(end.subject, "Resolved: IDS ET RULE 2001 from 192.0.2.2");
      const [, mail] = await h.smtp.waitFor(2);
      assert.equal(mail!.parsed.inReplyTo, grouped!.parsed.messageId);
      assert.deepEqual([mail!.parsed.references].flat(), [
        grouped!.parsed.messageId,
      ]);
    },
  });
}

cases("SQLite", () => stormHarness(IDS), false);

cases(
  "PostgreSQL",
  () => onPostgres((store) => stormHarness(IDS, store)),
  !hasPostgres(),
);
