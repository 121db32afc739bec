/**
 * Storm control, the realert window (issue 11): decisions before enrichment on an injected clock, mail
 * to a real SMTP server on loopback, and what the store recorded for every alert.
 */
import assert from "node:assert/strict";
import { START, stormHarness, suricata } from "./_storm.ts";

const MIN = 60_000;

function detector(storm: Record<string, unknown>) {
  return {
    ids: {
      subject: "IDS {alert.signature} from {src_ip}",
      enrichments: [],
      storm: { fingerprint: ["alert.signature_id", "src_ip"], ...storm },
    },
  };
}

Deno.test("storm realert: one email per fingerprint per window, suppressed alerts stored with the notified id, the next email counts them", async () => {
  await using h = await stormHarness(detector({ realert: "10m" }));
  const first = await h.ingest(suricata(2001, "203.0.113.7"));
  assert.equal(first.sent, true);
  h.advance(1 * MIN);
  const again = await h.ingest(suricata(2001, "203.0.113.7"));
  assert.equal(again.sent, false);
  assert.equal(again.delivery.status, "suppressed");
  assert.equal(again.suppressed_by, "realert");
  assert.equal(again.notified_id, first.alert_id);
  const other = await h.ingest(suricata(2001, "198.51.100.9"));
  assert.equal(other.sent, true, "another fingerprint is mailed");
  h.advance(1 * MIN);
  await h.ingest(suricata(2001, "203.0.113.7"));

  const stored = await h.runtime.store.getAlert(again.alert_id);
  assert.equal(stored?.status, "suppressed");
  assert.equal(stored?.suppressed_by, "realert");
  assert.equal(stored?.notified_id, first.alert_id);
  assert.equal(
    stored?.fingerprint,
    (await h.runtime.store.getAlert(first.alert_id))?.fingerprint,
  );
  assert.equal(stored?.enrichments, undefined, "no enrichment ran for it");

  h.advance(9 * MIN); // 10:13: the window of 10:02 + 10m has closed
  const next = await h.ingest(suricata(2001, "203.0.113.7"));
  assert.equal(next.sent, true);
  assert.equal(
    next.subject,
    "IDS ET RULE 2001 from 203.0.113.7 (+2 similar since 10:02)",
  );
  const mails = await h.smtp.waitFor(3);
  assert.deepEqual(mails.map((m) => m.parsed.subject), [
    "IDS ET RULE 2001 from 203.0.113.7",
    "IDS ET RULE 2001 from 198.51.100.9",
    "IDS ET RULE 2001 from 203.0.113.7 (+2 similar since 10:02)",
  ]);
  const suppressed = await h.runtime.store.listAlerts({
    notified_id: first.alert_id,
  });
  assert.equal(
    suppressed.length,
    2,
    "the summary count equals what was stored",
  );
  assert.deepEqual(
    await h.runtime.store.storm.suppressedCounts({
      notified_id: first.alert_id,
    }),
    { realert: 2 },
  );
});

Deno.test("storm realert_max: windows double while the fingerprint keeps firing, and fall back after a quiet spell of 2x the window", async () => {
  await using h = await stormHarness(
    detector({ realert: "10m", realert_max: "40m" }),
  );
  const alert = suricata(7, "192.0.2.1");
  const windowOf = async (id: string) => {
    const record = await h.runtime.store.getAlert(id);
    return (await h.runtime.store.storm.window(record!.fingerprint!))!
      .window_ms / MIN;
  };
  const a = await h.ingest(alert);
  assert.equal(await windowOf(a.alert_id), 10);
  h.advance(5 * MIN);
  assert.equal((await h.ingest(alert)).sent, false);
  h.advance(6 * MIN); // 11 min after the first: window over, last alert 6 min ago
  const b = await h.ingest(alert);
  assert.equal(b.sent, true);
  assert.equal(await windowOf(b.alert_id), 20);
  h.advance(21 * MIN);
  const c = await h.ingest(alert);
  assert.equal(c.sent, true);
  assert.equal(await windowOf(c.alert_id), 40);
  h.advance(41 * MIN);
  const d = await h.ingest(alert);
  assert.equal(await windowOf(d.alert_id), 40, "capped at realert_max");
  h.advance(81 * MIN); // quiet for more than 2 x 40 min
  const e = await h.ingest(alert);
  assert.equal(e.sent, true);
  assert.equal(await windowOf(e.alert_id), 10, "back to realert");
});

Deno.test("storm fingerprint: a missing path is its own value, never a merge with an alert that has it", async () => {
  await using h = await stormHarness(detector({ realert: "10m" }));
  const noIp = { alert: { signature_id: 9, signature: "x" } };
  const missingText = {
    src_ip: "(missing)",
    alert: { signature_id: 9, signature: "x" },
  };
  const noSignature = { src_ip: "192.0.2.1", alert: { signature: "y" } };
  const sent = [
    await h.ingest(noIp),
    await h.ingest(missingText),
    await h.ingest(noSignature),
    await h.ingest(suricata(9, "192.0.2.1")),
  ].map((s) => s.sent);
  assert.deepEqual(sent, [true, true, true, true]);
  const repeat = await h.ingest({ alert: { signature_id: 9, signature: "x" } });
  assert.equal(repeat.suppressed_by, "realert");
  const record = await h.runtime.store.getAlert(repeat.alert_id);
  const window = await h.runtime.store.storm.window(record!.fingerprint!);
  assert.deepEqual(window?.values, ["9", "(missing)"]);
});

Deno.test("storm decisions: two concurrent alerts of one fingerprint give one email", async () => {
  await using h = await stormHarness(detector({ realert: "10m" }));
  const alert = suricata(42, "203.0.113.50");
  const results = await Promise.all([
    h.ingest(alert),
    h.ingest(alert),
    h.ingest(alert),
  ]);
  assert.equal(results.filter((r) => r.sent).length, 1);
  assert.equal(
    results.filter((r) => r.suppressed_by === "realert").length,
    2,
  );
  await h.smtp.waitFor(1);
  // Give a wrongly sent second email every chance to arrive: a fourth, other alert is mailed after.
  await h.ingest(suricata(43, "203.0.113.50"));
  const mails = await h.smtp.waitFor(2);
  assert.equal(mails.length, 2);
  assert.match(mails[1]!.parsed.subject ?? "", /RULE 43/);
});

Deno.test("storm decisions survive a restart in the middle of a window: no re-notify", async () => {
  await using h = await stormHarness(detector({ realert: "10m" }));
  const alert = suricata(5, "192.0.2.77");
  const first = await h.ingest(alert);
  h.advance(3 * MIN);
  await h.reopen();
  const after = await h.ingest(alert);
  assert.equal(after.sent, false);
  assert.equal(after.notified_id, first.alert_id);
  assert.equal(h.now().getTime(), START + 3 * MIN);
});

Deno.test("storm decisions: without a storm block every alert is mailed, as before", async () => {
  await using h = await stormHarness({
    plain: { subject: "Plain {src_ip}", enrichments: [] },
  });
  const a = await h.ingest(suricata(1, "192.0.2.1"));
  const b = await h.ingest(suricata(1, "192.0.2.1"));
  assert.deepEqual([a.sent, b.sent], [true, true]);
  assert.equal(
    (await h.runtime.store.getAlert(b.alert_id))?.fingerprint,
    undefined,
  );
});
