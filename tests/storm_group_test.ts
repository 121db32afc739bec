/**
 * Storm control's grouping (`storm.group`, issue 11): distinct fingerprints batched into one email
 * per group, after `wait`, at most every `interval`, `max_alerts` rows listed and the rest counted; a
 * real SMTP server on loopback and the injected clock.
 */
import assert from "node:assert/strict";
import { stormHarness, suricata } from "./_storm.ts";

const SEC = 1_000;
const MIN = 60_000;

function ids(group: Record<string, unknown>) {
  return {
    ids: {
      subject: "IDS {alert.signature} from {src_ip}",
      enrichments: [],
      storm: {
        fingerprint: ["alert.signature_id", "src_ip"],
        realert: "10m",
        group: { by: ["alert.signature_id"], ...group },
      },
    },
  };
}

Deno.test("storm group: wait collects distinct fingerprints into one email, max_alerts rows and the rest counted, interval spaces the batches", async () => {
  await using h = await stormHarness(
    ids({ wait: "30s", interval: "5m", max_alerts: 3 }),
  );
  const batch = [];
  for (const ip of ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"]) {
    h.advance(SEC);
    const s = await h.ingest(suricata(2001, ip));
    assert.equal(s.suppressed_by, "group");
    batch.push(s.alert_id);
  }
  const other = await h.ingest(suricata(3001, "192.0.2.1"));
  assert.equal(other.suppressed_by, "group", "another group waits apart");
  const repeat = await h.ingest(suricata(2001, "192.0.2.1"));
  assert.equal(repeat.suppressed_by, "realert", "its window is open");
  assert.equal(repeat.notified_id, batch[0]);

  h.advance(10 * SEC);
  assert.equal(await h.runTimers(), 0, "not yet: wait is 30 s");
  h.advance(20 * SEC);
  assert.equal(await h.runTimers(), 2);
  const mails = await h.smtp.waitFor(2);
  const grouped = mails.find((m) => /2001/.test(m.parsed.subject ?? ""))!;
  assert.equal(
    grouped.parsed.subject,
    "ids: 4 new alerts with alert.signature_id 2001",
  );
  const text = grouped.parsed.text ?? "";
  assert.equal(
    text.split("\n").filter((l) => l.includes("/alerts/")).length,
    3,
  );
  assert.match(text, /and 1 more/);
  assert.match(text, /src_ip: .*192\.0\.2\.4 \(1\)/);
  for (const [i, id] of batch.entries()) {
    const record = await h.runtime.store.getAlert(id);
    assert.equal(record?.notified_id, i === 0 ? undefined : batch[0]);
    assert.equal(record?.suppressed_by, "group");
    assert.equal(record?.message_id, grouped.parsed.messageId);
  }

  h.advance(MIN); // 10:03:35: a new fingerprint of the group waits for the interval
  const late = await h.ingest(suricata(2001, "192.0.2.9"));
  assert.equal(late.suppressed_by, "group");
  h.advance(MIN);
  assert.equal(await h.runTimers(), 0, "interval: 5 min after the last batch");
  h.advance(3 * MIN + 5 * SEC);
  assert.equal(await h.runTimers(), 1);
  const third = (await h.smtp.waitFor(3))[2]!;
  assert.equal(
    third.parsed.subject,
    "ids: 1 new alert with alert.signature_id 2001",
  );
  assert.match(
    h.metrics.render(),
    /blitz_suppressed_total\{detector="ids",reason="group"\} 6/,
  );
});

Deno.test("storm group: wait 0s sends the first at once, later fingerprints batch for the interval", async () => {
  await using h = await stormHarness(ids({ wait: "0s", interval: "5m" }));
  const first = await h.ingest(suricata(2001, "192.0.2.1"));
  assert.equal(first.sent, true);
  h.advance(MIN);
  const second = await h.ingest(suricata(2001, "192.0.2.2"));
  assert.equal(second.suppressed_by, "group");
  h.advance(4 * MIN);
  assert.equal(await h.runTimers(), 1);
  const mails = await h.smtp.waitFor(2);
  assert.equal(
    mails[1]!.parsed.subject,
    "ids: 1 new alert with alert.signature_id 2001",
  );
});

Deno.test("storm group: the window digest of a grouped fingerprint threads under the grouped email", async () => {
  await using h = await stormHarness(ids({ wait: "30s" }));
  await h.ingest(suricata(2001, "192.0.2.1"));
  h.advance(30 * SEC);
  await h.runTimers();
  h.advance(MIN);
  await h.ingest(suricata(2001, "192.0.2.1"));
  h.advance(10 * MIN);
  await h.runTimers();
  const [group, digest] = await h.smtp.waitFor(2);
  assert.match(
    digest!.parsed.subject ?? "",
    /^ids: 1 more like "IDS ET RULE 2001 from 192\.0\.2\.1"/,
  );
  assert.equal(digest!.parsed.inReplyTo, group!.parsed.messageId);
});

Deno.test("storm group: a grouped email the relay refuses is sent again with its whole batch once the timer's lease lapses", async () => {
  await using h = await stormHarness(ids({ wait: "30s" }));
  const batch = [];
  for (const ip of ["192.0.2.1", "192.0.2.2"]) {
    batch.push((await h.ingest(suricata(2001, ip))).alert_id);
  }
  h.advance(30 * SEC);
  h.smtp.failNext(1);
  assert.equal(await h.runTimers(), 0, "the email failed: the timer stays");
  assert.ok(h.events.some(([e]) => e === "storm_timer_failed"));
  h.advance(5 * MIN + SEC); // the lease (5 min) lapsed
  assert.equal(await h.runTimers(), 1);
  const [grouped] = await h.smtp.waitFor(1);
  assert.equal(
    grouped!.parsed.subject,
    "ids: 2 new alerts with alert.signature_id 2001",
  );
  for (const id of batch) {
    assert.ok((grouped!.parsed.text ?? "").includes(`/alerts/${id}`));
    const record = await h.runtime.store.getAlert(id);
    assert.equal(record?.message_id, grouped!.parsed.messageId);
  }
  assert.equal(await h.runTimers(), 0, "sent once");
});
