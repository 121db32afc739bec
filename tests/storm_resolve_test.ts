/**
 * Storm control and resolved alerts (issue 11 with the alert-content issue's `status: resolved`): a
 * fingerprint's firing → resolved transition is mailed once, threaded under its first email, and its
 * channels get their resolve (a loopback fake PagerDuty sees trigger then resolve with one
 * `dedup_key`), whatever the realert window, group or ack; repeats are suppressed; a silence holds a
 * resolve and its end-of-silence email counts it; in storm mode the breaker holds it for the digest.
 * Real SMTP server on loopback, injected clock, timers run as `serve` runs them.
 */
import assert from "node:assert/strict";
import { stormHarness, suricata } from "./_storm.ts";
import { fakePagerDuty } from "./_pagerduty.ts";

const MIN = 60_000;
const ROUTING_KEY = "0123456789abcdef0123456789abcdef";

function project(url: string, storm: Record<string, unknown> = {}) {
  return [
    {
      ids: {
        subject: "IDS {alert.signature} from {src_ip}",
        enrichments: [],
        notify: ["email", "oncall_pd"],
        storm: {
          fingerprint: ["alert.signature_id", "src_ip"],
          realert: "10m",
          ...storm,
        },
      },
    },
    {
      channels: {
        oncall_pd: {
          type: "pagerduty",
          routing_key: "${env:PD_ROUTING_KEY}",
          api_url: url,
        },
      },
    },
    { PD_ROUTING_KEY: ROUTING_KEY },
  ] as const;
}

type PdEvent = { event_action: string; dedup_key: string };

Deno.test("storm resolve: the resolve inside the realert window is mailed once under the first email and resolves the PagerDuty incident; repeats are suppressed; the next firing opens a fresh window", async () => {
  const pd = fakePagerDuty();
  try {
    await using h = await stormHarness(...project(pd.url));
    const firing = (extra = {}) =>
      h.ingest(suricata(2001, "203.0.113.7", { status: "firing", ...extra }));
    const resolved = () =>
      h.ingest(suricata(2001, "203.0.113.7", { status: "resolved" }));
    const first = await firing();
    assert.equal(first.sent, true);
    h.advance(MIN);
    const repeat = await firing();
    assert.equal(repeat.suppressed_by, "realert");
    h.advance(MIN); // 10:04, inside the window of 10:02 + 10m
    const resolve = await resolved();
    assert.equal(resolve.sent, true, "the resolve goes through the window");
    assert.equal(
      resolve.subject,
      "Resolved: IDS ET RULE 2001 from 203.0.113.7 (+1 similar since 10:02)",
    );
    assert.equal(resolve.channels?.[0]?.status, "delivered");
    h.advance(MIN);
    const again = await resolved();
    assert.equal(again.sent, false);
    assert.equal(again.suppressed_by, "realert");
    assert.equal(again.notified_id, resolve.alert_id, "covered by the resolve");
    assert.equal(again.channels, undefined, "no second resolve to PagerDuty");

    const mails = await h.smtp.waitFor(2);
    const [mail, closing] = mails;
    assert.equal(closing!.parsed.inReplyTo, mail!.parsed.messageId);
    assert.deepEqual([closing!.parsed.references].flat(), [
      mail!.parsed.messageId,
    ]);
    const events = pd.events as PdEvent[];
    assert.deepEqual(events.map((e) => e.event_action), ["trigger", "resolve"]);
    assert.equal(events[1]!.dedup_key, events[0]!.dedup_key, "one incident");

    h.advance(MIN); // 10:06, still inside the first window: a new firing is a new incident
    const reopened = await firing();
    assert.equal(reopened.sent, true);
    assert.equal(
      reopened.subject,
      "IDS ET RULE 2001 from 203.0.113.7 (+1 similar since 10:04)",
    );
    const window = await h.runtime.store.storm.window(
      (await h.runtime.store.getAlert(first.alert_id))!.fingerprint!,
    );
    assert.equal(window?.window_ms, 10 * MIN, "a fresh window");
    assert.equal(window?.notified_id, reopened.alert_id);
    assert.deepEqual(
      (pd.events as PdEvent[]).map((e) => e.event_action),
      ["trigger", "resolve", "trigger"],
    );
    h.advance(MIN);
    assert.equal((await firing()).suppressed_by, "realert");

    h.advance(20 * MIN); // every window closed: the first window's digest, none for the resolve's
    await h.runTimers();
    const all = await h.smtp.waitFor(5);
    assert.deepEqual(all.slice(3).map((m) => m.parsed.subject).sort(), [
      'ids: 1 more like "IDS ET RULE 2001 from 203.0.113.7" (10:02–10:12)',
      'ids: 1 more like "IDS ET RULE 2001 from 203.0.113.7" (10:06–10:16)',
    ]);
    assert.equal(await h.runTimers(), 0);
  } finally {
    await pd.close();
  }
});

Deno.test("storm resolve: an ack lets the resolve through (the ack stays until quiet); a silence holds it and its end email counts it", async () => {
  const pd = fakePagerDuty();
  try {
    await using h = await stormHarness(...project(pd.url));
    const alert = (ip: string, status: string) =>
      h.ingest(suricata(2002, ip, { status }));
    const acked = await alert("198.51.100.1", "firing");
    const fingerprint = (await h.runtime.store.getAlert(acked.alert_id))!
      .fingerprint!;
    assert.equal(
      await h.runtime.store.storm.ack(fingerprint, {
        actor: "ana",
        at: h.now(),
      }),
      true,
    );
    h.advance(15 * MIN); // after the window: acked, so still suppressed
    assert.equal((await alert("198.51.100.1", "firing")).suppressed_by, "ack");
    h.advance(MIN);
    const closing = await alert("198.51.100.1", "resolved");
    assert.equal(closing.sent, true, "an ack lets the resolve through");
    assert.equal(closing.channels?.[0]?.status, "delivered");
    assert.equal(
      (await h.runtime.store.storm.window(fingerprint))?.acked_by,
      "ana",
      "the ack ends when quiet, as before",
    );
    h.advance(MIN);
    assert.equal((await alert("198.51.100.1", "firing")).suppressed_by, "ack");

    const loud = await alert("198.51.100.2", "firing");
    assert.equal(loud.sent, true);
    await h.runtime.store.storm.addSilence({
      id: "sil-1",
      detector: "ids",
      starts_at: h.now().toISOString(),
      ends_at: new Date(h.now().getTime() + 60 * MIN).toISOString(),
      created_by: "ana",
      comment: "maintenance",
    }, h.now());
    h.advance(MIN);
    const held = await alert("198.51.100.2", "resolved");
    assert.equal(held.suppressed_by, "silence");
    assert.equal(held.channels, undefined);
    h.advance(60 * MIN);
    await h.runTimers();
    const mails = await h.smtp.waitFor(5);
    assert.deepEqual(mails.map((m) => m.parsed.subject).sort(), [
      "IDS ET RULE 2002 from 198.51.100.1",
      "IDS ET RULE 2002 from 198.51.100.2",
      "Resolved: IDS ET RULE 2002 from 198.51.100.1 (+1 similar since 10:02)",
      // The silenced resolve's window digest (it arrived in the window); none for the acked
      // fingerprint's window (an ack: no more emails; the resolve above counted its repeat).
      'ids: 1 more like "IDS ET RULE 2002 from 198.51.100.2" (10:19–10:29)',
      "ids: silence ended, 1 alert arrived during it",
    ]);
    assert.ok(h.events.some(([e]) => e === "storm_digest_acked"));
    assert.deepEqual(
      (pd.events as PdEvent[]).map((e) => e.event_action),
      ["trigger", "resolve", "trigger"],
      "the silenced resolve reached no channel",
    );
  } finally {
    await pd.close();
  }
});

Deno.test("storm resolve: in storm mode the breaker holds a resolve for the 15-minute digest", async () => {
  const pd = fakePagerDuty();
  try {
    const [detectors, global, env] = project(pd.url);
    await using h = await stormHarness(detectors, {
      ...global,
      storm_breaker: "2/h",
    }, env);
    for (const ip of ["192.0.2.1", "192.0.2.2"]) {
      assert.equal((await h.ingest(suricata(9, ip))).sent, true);
    }
    const tripped = await h.ingest(suricata(9, "192.0.2.3"));
    assert.equal(tripped.suppressed_by, "breaker");
    h.advance(MIN);
    const resolve = await h.ingest(
      suricata(9, "192.0.2.1", { status: "resolved" }),
    );
    assert.equal(resolve.suppressed_by, "breaker");
    h.advance(15 * MIN);
    await h.runTimers();
    const mails = await h.smtp.waitFor(4);
    assert.match(mails[3]!.parsed.subject ?? "", /storm mode, 2 alerts held/);
    assert.ok(
      !(pd.events as PdEvent[]).some((e) => e.event_action === "resolve"),
      "held, not sent",
    );
  } finally {
    await pd.close();
  }
});
