/**
 * Storm control's digests, silences and acks end to end (issue 11): a real SMTP server on loopback,
 * the injected clock, the timers run as serve's job runs them, and the digest's buttons used through
 * the confirmation page and its POST.
 */
import assert from "node:assert/strict";
import { type StormHarness, stormHarness, suricata } from "./_storm.ts";
import { addSilence } from "../core/storm/storm.ts";

const MIN = 60_000;

function ids(storm: Record<string, unknown> = {}) {
  return {
    ids: {
      subject: "IDS {alert.signature} from {src_ip}",
      enrichments: [],
      storm: {
        fingerprint: ["alert.signature_id", "src_ip"],
        realert: "10m",
        ...storm,
      },
    },
  };
}

/** The link of the button labelled `label` in a message's text part. */
function link(text: string, label: string): string {
  const found = new RegExp(`${label}: (\\S+)`).exec(text)?.[1];
  assert.ok(found, `no "${label}" link in:\n${text}`);
  return found;
}

async function storm(h: StormHarness, count: number, everyMs: number) {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    h.advance(everyMs);
    const s = await h.ingest(
      suricata(2001, "203.0.113.7", { dest_port: 1000 + (i % 12) }),
    );
    assert.equal(s.sent, false);
    ids.push(s.alert_id);
  }
  return ids;
}

Deno.test("storm digest: counts, values, a table of 50, reasons and buttons, threaded under the first email", async () => {
  await using h = await stormHarness(ids());
  const first = await h.ingest(suricata(2001, "203.0.113.7"));
  const suppressed = await storm(h, 60, 9_000); // 60 alerts over 9 minutes
  h.advance(2 * MIN); // 10:13, past the window's end at 10:12
  assert.equal(await h.runTimers(), 1);
  const [mail, digest] = await h.smtp.waitFor(2);
  assert.equal(
    digest!.parsed.subject,
    'ids: 60 more like "IDS ET RULE 2001 from 203.0.113.7" (10:02–10:12)',
  );
  assert.equal(digest!.parsed.inReplyTo, mail!.parsed.messageId);
  assert.deepEqual(
    [digest!.parsed.references].flat(),
    [mail!.parsed.messageId],
  );
  assert.equal(digest!.parsed.headers.get("x-blitz-alert-id"), first.alert_id);
  const text = digest!.parsed.text ?? "";
  assert.match(text, /Suppressed: 60\n/);
  assert.match(text, /Rate: 6\/min/);
  assert.match(text, /Reasons: realert 60/);
  assert.match(text, /alert\.signature_id: 2001 \(60\)/);
  assert.match(text, /src_ip: 203\.0\.113\.7 \(60\)/);
  const rows = text.split("\n").filter((l) => l.includes("/alerts/"));
  assert.equal(rows.filter((l) => / realert http/.test(l)).length, 50);
  assert.ok(rows.some((l) => l.endsWith(`/alerts/${suppressed[0]}`)));
  assert.match(text, /and 10 more/);
  assert.match(text, /the next alert of this fingerprint is mailed at once/);
  for (
    const label of [
      "Silence this fingerprint 4h",
      "Silence this fingerprint 24h",
      "Ack this fingerprint",
    ]
  ) {
    assert.match(link(text, label), /^http:\/\/127\.0\.0\.1:8080\/actions\//);
  }
  assert.match(digest!.parsed.html || "", /60 more like/);
  assert.equal(await h.runTimers(), 0, "a digest is sent once");
  assert.match(
    h.metrics.render(),
    /blitz_suppressed_total\{detector="ids",reason="realert"\} 60/,
  );
  assert.match(h.metrics.render(), /blitz_digests_total\{detector="ids"\} 1/);
});

Deno.test("storm digest: a window without suppressed alerts sends nothing", async () => {
  await using h = await stormHarness(ids());
  await h.ingest(suricata(1, "192.0.2.1"));
  h.advance(11 * MIN);
  assert.equal(await h.runTimers(), 1);
  await h.ingest(suricata(2, "192.0.2.1"));
  const mails = await h.smtp.waitFor(2);
  assert.deepEqual(mails.map((m) => m.parsed.subject), [
    "IDS ET RULE 1 from 192.0.2.1",
    "IDS ET RULE 2 from 192.0.2.1",
  ]);
});

Deno.test("storm digest after a restart in the middle of the window: no re-notify, the digest still goes out with every alert", async () => {
  await using h = await stormHarness(ids());
  await h.ingest(suricata(2001, "203.0.113.7"));
  await storm(h, 3, MIN);
  await h.reopen(); // a new process: nothing of the window is in memory
  await storm(h, 2, MIN);
  h.advance(6 * MIN);
  assert.equal(await h.runTimers(), 1);
  const mails = await h.smtp.waitFor(2);
  assert.equal(mails.length, 2);
  assert.match(mails[1]!.parsed.subject ?? "", /^ids: 5 more like/);
});

Deno.test("storm silence from the digest button: confirmation page, POST, later alerts suppressed, one email when it ends, linking the alerts it held", async () => {
  await using h = await stormHarness(ids(), {
    ui_auth: { users: [{ username: "ana", password: "analyst-pass-1" }] },
  });
  await h.ingest(suricata(2001, "203.0.113.7"));
  await storm(h, 2, MIN);
  h.advance(9 * MIN);
  await h.runTimers();
  const [, digest] = await h.smtp.waitFor(2);
  const silenceLink = link(
    digest!.parsed.text ?? "",
    "Silence this fingerprint 4h",
  );
  const page = await h.request(silenceLink);
  const html = await page.text();
  assert.equal(page.status, 200);
  assert.match(html, /Silence this fingerprint 4h/);
  assert.equal(
    (await h.runtime.store.storm.listSilences({ now: h.now() })).length,
    0,
    "GET changes nothing",
  );
  const done = await h.confirm(silenceLink, "Alice Analyst");
  assert.equal(done.status, 200, done.html);
  const [silence] = await h.runtime.store.storm.listSilences({ now: h.now() });
  assert.equal(silence?.created_by, "Alice Analyst");
  assert.equal(
    Date.parse(silence!.ends_at) - Date.parse(silence!.starts_at),
    240 * MIN,
  );
  const replay = await h.confirm(silenceLink, "Mallory");
  assert.equal(replay.status, 409, "single use");

  h.advance(MIN);
  const held = await h.ingest(suricata(2001, "203.0.113.7"));
  assert.equal(held.suppressed_by, "silence");
  const other = await h.ingest(suricata(2001, "198.51.100.1"));
  assert.equal(other.sent, true, "another fingerprint is not silenced");
  h.advance(MIN);
  await h.ingest(suricata(2001, "203.0.113.7"));

  h.advance(240 * MIN);
  await h.runTimers();
  const mails = await h.smtp.waitFor(5); // alert, digest, follow-up, other alert, silence end
  const end = mails.find((m) => /silence ended/.test(m.parsed.subject ?? ""));
  assert.ok(end, mails.map((m) => m.parsed.subject).join("\n"));
  assert.equal(
    end.parsed.subject,
    "ids: silence ended, 2 alerts arrived during it",
  );
  assert.ok((end.parsed.text ?? "").includes(`/alerts/${held.alert_id}`));
  assert.match(end.parsed.text ?? "", /By: Alice Analyst/);
  const heldLink = link(end.parsed.text ?? "", "All 2 alerts it held");
  assert.equal(
    heldLink,
    `http://127.0.0.1:8080/alerts?silence=${silence!.id}`,
  );
  assert.ok(
    (end.parsed.html || "").includes(`href="${heldLink}"`),
    "the HTML part links them too",
  );
  const auth = { Authorization: `Basic ${btoa("ana:analyst-pass-1")}` };
  const list = await h.request(heldLink, { headers: auth });
  const listed = await list.text();
  assert.equal(list.status, 200, listed);
  const fingerprint = (await h.runtime.store.getAlert(held.alert_id))!
    .fingerprint!;
  assert.ok(
    listed.includes(`fingerprint=${fingerprint}`),
    "the held alerts' storm is the row",
  );
  const flat = await (await h.request(`${heldLink}&view=alerts`, {
    headers: auth,
  })).text();
  // Each row's subject links its alert; "mailed as" links the covering one.
  const shown = [...flat.matchAll(/\/alerts\/([0-9a-f-]{36})">(?!mailed as)/g)]
    .map((m) => m[1]);
  assert.ok(shown.includes(held.alert_id), flat);
  assert.equal(new Set(shown).size, 2, "the two it held, nothing else");
  assert.ok(!shown.includes(other.alert_id));
  assert.equal(await h.runTimers(), 0);
  const next = await h.ingest(suricata(2001, "203.0.113.7"));
  assert.equal(next.sent, true, "mailed again once the silence is over");
});

Deno.test("storm ack from the digest button: no more emails until the fingerprint is quiet for ack_quiet", async () => {
  await using h = await stormHarness(ids({ ack_quiet: "1h" }));
  await h.ingest(suricata(2001, "203.0.113.7"));
  await storm(h, 1, MIN);
  h.advance(10 * MIN);
  await h.runTimers();
  const [, digest] = await h.smtp.waitFor(2);
  const done = await h.confirm(
    link(digest!.parsed.text ?? "", "Ack this fingerprint"),
    "Bob",
  );
  assert.equal(done.status, 200, done.html);
  for (const gap of [20, 50, 59]) {
    h.advance(gap * MIN);
    const s = await h.ingest(suricata(2001, "203.0.113.7"));
    assert.equal(s.suppressed_by, "ack", `after ${gap} min`);
  }
  h.advance(61 * MIN);
  const after = await h.ingest(suricata(2001, "203.0.113.7"));
  assert.equal(after.sent, true, "quiet for more than ack_quiet ends the ack");
  assert.match(after.subject, /\(\+4 similar since 10:02\)$/);
});

Deno.test("storm on /alerts: a suppressed alert shows why and links the alert whose email covers it", async () => {
  await using h = await stormHarness(ids(), {
    ui_auth: { users: [{ username: "ana", password: "analyst-pass-1" }] },
  });
  const first = await h.ingest(suricata(2001, "203.0.113.7"));
  const [held] = await storm(h, 1, MIN);
  const auth = { Authorization: `Basic ${btoa("ana:analyst-pass-1")}` };
  const list = await h.request(
    "http://127.0.0.1:8080/alerts?status=suppressed",
    { headers: auth },
  );
  const listHtml = await list.text();
  assert.equal(list.status, 200, listHtml);
  assert.match(
    listHtml,
    /realert · <a href="[^"]*\/alerts\/([^"]+)">mailed as<\/a>/,
  );
  assert.ok(listHtml.includes(`/alerts/${first.alert_id}">mailed as`));
  assert.ok(
    !listHtml.includes(`/alerts/${first.alert_id}">${first.subject}`),
    "the filter keeps the mailed one out",
  );
  const other = await h.ingest(suricata(2002, "198.51.100.77"));
  const search = await h.request(
    "http://127.0.0.1:8080/alerts?q=198.51.100.77",
    { headers: auth },
  );
  const found = await search.text();
  assert.equal(search.status, 200);
  assert.ok(found.includes(`/alerts/${other.alert_id}"`), "found by its IP");
  assert.ok(!found.includes(`/alerts/${held}"`), "the others are not listed");
  assert.match(found, /name="q" value="198\.51\.100\.77"/);
  const page = await h.request(`http://127.0.0.1:8080/alerts/${held}`, {
    headers: auth,
  });
  const html = await page.text();
  assert.equal(page.status, 200);
  assert.match(html, /Suppressed by/);
  assert.ok(
    html.includes(
      `realert<!-- --> · covered by the email of <a href="http://127.0.0.1:8080/alerts/${first.alert_id}">${first.alert_id}</a>`,
    ) ||
      html.includes(
        `realert · covered by the email of <a href="http://127.0.0.1:8080/alerts/${first.alert_id}">${first.alert_id}</a>`,
      ),
    html.slice(
      html.indexOf("Suppressed by"),
      html.indexOf("Suppressed by") + 400,
    ),
  );
});

Deno.test("storm /silences: who, since, until, held; the End button (CSRF) ends a silence and an ack", async () => {
  await using h = await stormHarness(ids(), {
    ui_auth: { users: [{ username: "ana", password: "analyst-pass-1" }] },
  });
  const first = await h.ingest(suricata(2001, "203.0.113.7"));
  const silence = await addSilence({
    store: h.runtime.store,
    clock: () => h.now(),
    detectors: ["ids"],
  }, {
    detector: "ids",
    match: 'alert.src_ip == "198.51.100.1"',
    forMs: 4 * 60 * MIN,
    createdBy: "carol",
    comment: "scanner maintenance",
  });
  const record = await h.runtime.store.getAlert(first.alert_id);
  await h.runtime.store.storm.ack(record!.fingerprint!, {
    actor: "bob",
    at: h.now(),
  });
  const auth = { Authorization: `Basic ${btoa("ana:analyst-pass-1")}` };
  const anonymous = await h.request("http://127.0.0.1:8080/silences");
  assert.equal(anonymous.status, 401, "behind ui_auth");
  await anonymous.body?.cancel();
  const page = await h.request("http://127.0.0.1:8080/silences", {
    headers: auth,
  });
  const html = await page.text();
  assert.equal(page.status, 200, html);
  assert.match(html, /alert\.src_ip == &quot;198\.51\.100\.1&quot;/);
  assert.match(html, /carol/);
  assert.match(html, /scanner maintenance/);
  assert.match(html, /alert\.signature_id=2001, src_ip=203\.0\.113\.7/);
  assert.match(html, /bob/);
  const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";
  const end = (path: string, token: string) =>
    h.request(`http://127.0.0.1:8080${path}`, {
      method: "POST",
      headers: {
        ...auth,
        "content-type": "application/x-www-form-urlencoded",
      },
      body: new URLSearchParams({ csrf: token }),
    });
  const forged = await end(`/silences/${silence.id}/end`, "x");
  assert.equal(forged.status, 403);
  await forged.body?.cancel();
  assert.equal(
    (await h.runtime.store.storm.listSilences({ now: h.now() })).length,
    1,
    "a forged POST ends nothing",
  );
  const ok = await end(`/silences/${silence.id}/end`, csrf);
  assert.equal(ok.status, 303);
  await ok.body?.cancel();
  assert.deepEqual(
    await h.runtime.store.storm.listSilences({ now: h.now() }),
    [],
  );
  const unacked = await end(
    `/silences/acks/${record!.fingerprint}/end`,
    csrf,
  );
  assert.equal(unacked.status, 303);
  await unacked.body?.cancel();
  assert.equal(
    (await h.runtime.store.storm.window(record!.fingerprint!))?.acked_at,
    undefined,
  );
});

Deno.test("storm ack from the first email's reply button inside the window: no digest while acked; the next email after the quiet spell counts every held alert", async () => {
  await using h = await stormHarness({
    ids: {
      ...ids({ ack_quiet: "1h" }).ids,
      actions: {
        reply: [["Ack", {
          color: "green",
          actions: [["ack", {}]],
        }]],
      },
    },
  });
  await h.ingest(suricata(2001, "203.0.113.7"));
  const [first] = await h.smtp.waitFor(1);
  const href = /Ack\n.*\n(http\S+\/actions\/\S+)/.exec(
    first!.parsed.text ?? "",
  )?.[1];
  assert.ok(href, first!.parsed.text ?? "");
  await storm(h, 2, MIN); // 10:03, 10:04: held by the window
  const done = await h.confirm(href, "Bob");
  assert.equal(done.status, 200, done.html);
  h.advance(MIN);
  const held = await h.ingest(suricata(2001, "203.0.113.7"));
  assert.equal(held.suppressed_by, "ack");
  h.advance(10 * MIN); // 10:15: the window (10:02–10:12) closed while acked
  assert.equal(await h.runTimers(), 1, "the timer ran");
  const mails = await h.smtp.waitFor(2); // the alert and the ack's follow-up
  assert.ok(
    !mails.some((m) => /more like/.test(m.parsed.subject ?? "")),
    mails.map((m) => m.parsed.subject).join("\n"),
  );
  assert.ok(
    h.events.some(([e, f]) => e === "storm_digest_acked" && f.count === 3),
  );
  h.advance(61 * MIN); // quiet for more than ack_quiet: the ack is over
  const next = await h.ingest(suricata(2001, "203.0.113.7"));
  assert.equal(next.sent, true);
  assert.match(next.subject, /\(\+3 similar since 10:02\)$/, "nothing lost");
});
