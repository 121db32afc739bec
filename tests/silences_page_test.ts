/**
 * `GET /silences` through `app.request()` on an injected clock, on SQLite and on a throwaway
 * PostgreSQL server: silences and acks with who, since, until when (an ack until the fingerprint is
 * quiet for `ack_quiet`), what they held, the storm they concern linked, and End buttons (CSRF) that
 * end them; a lapsed ack is shown as over, without a button; the New silence form makes one.
 *
 * @module
 */
import assert from "node:assert/strict";
import { hasPostgres } from "./_postgres.ts";
import {
  onPostgres,
  type StormHarness,
  stormHarness,
  suricata,
} from "./_storm.ts";
import { addSilence } from "../core/storm/storm.ts";

const MIN = 60_000;
const AUTH = { Authorization: `Basic ${btoa("ana:analyst-pass-1")}` };
const BASE = "http://127.0.0.1:8080";
const DETECTORS = {
  ids: {
    subject: "IDS {alert.signature} from {src_ip}",
    enrichments: [],
    storm: {
      fingerprint: ["alert.signature_id", "src_ip"],
      realert: "10m",
      ack_quiet: "2h",
    },
  },
  web: { subject: "WAF {host}", enrichments: [] },
};

async function silencesPage(h: StormHarness) {
  const res = await h.request(`${BASE}/silences`, { headers: AUTH });
  const html = await res.text();
  assert.equal(res.status, 200, html);
  return html;
}

/** The card under heading `title`. */
function card(html: string, title: string): string {
  const start = html.indexOf(`<h2>${title}</h2>`);
  assert.ok(start >= 0, `no "${title}" card`);
  const end = html.indexOf("</section>", start);
  return html.slice(start, end);
}

function cases(
  name: string,
  open: () => Promise<StormHarness>,
  ignore: boolean,
) {
  Deno.test({
    name:
      `/silences (${name}): silences and acks with who, since, until, held, the storm linked, and End buttons`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await using h = await open();
      const first = await h.ingest(suricata(2001, "203.0.113.7"));
      await h.ingest(suricata(2001, "203.0.113.7"));
      const fp = (await h.runtime.store.getAlert(first.alert_id))!.fingerprint!;
      await h.runtime.store.storm.ack(fp, { actor: "bob", at: h.now() });
      h.advance(5 * MIN);
      await h.ingest(suricata(2001, "203.0.113.7")); // 10:07, held by the ack
      await addSilence({
        store: h.runtime.store,
        clock: () => h.now(),
        detectors: ["ids", "web"],
      }, {
        detector: "web",
        forMs: 60 * MIN,
        createdBy: "carol",
        comment: "WAF maintenance",
      });
      const held = await h.ingest({ host: "web-1" }, "web");
      assert.equal(held.suppressed_by, "silence");

      const html = await silencesPage(h);
      const silences = card(html, "Active silences");
      assert.match(silences, /carol/);
      assert.match(silences, /WAF maintenance/);
      assert.match(silences, /2026-03-02 10:07:00 UTC/, "since");
      assert.match(silences, /2026-03-02 11:07:00 UTC/, "until");
      const heldHref = /data-label="Held"><a href="([^"]+)">1<\/a>/.exec(
        silences,
      )?.[1];
      assert.ok(heldHref?.startsWith(`${BASE}/alerts?silence=`), silences);
      const heldPage = await h.request(heldHref!, { headers: AUTH });
      const heldHtml = await heldPage.text();
      assert.equal(heldPage.status, 200, heldHtml);
      assert.ok(heldHtml.includes(`/alerts/${held.alert_id}"`), "its alert");
      assert.ok(!heldHtml.includes(first.alert_id), "no other alert");
      const acks = card(html, "Acked fingerprints");
      assert.ok(
        acks.includes(
          `<a href="${BASE}/alerts?fingerprint=${fp}">alert.signature_id=2001, src_ip=203.0.113.7</a>`,
        ),
        acks,
      );
      assert.match(acks, /bob/);
      assert.match(acks, /2026-03-02 10:02:00 UTC/, "acked at");
      assert.match(
        acks,
        /quiet for 2 h \(at the earliest 2026-03-02 12:07:00 UTC\)/,
      );
      assert.match(acks, /2 since the last email/);
      assert.match(acks, /\/silences\/acks\/[^"]+\/end/);

      // The End button ends the ack (CSRF bound to the user); a forged one ends nothing.
      const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
      const end = (token: string) =>
        h.request(`${BASE}/silences/acks/${encodeURIComponent(fp)}/end`, {
          method: "POST",
          headers: {
            ...AUTH,
            "content-type": "application/x-www-form-urlencoded",
          },
          body: new URLSearchParams({ csrf: token }),
        });
      const forged = await end("forged");
      assert.equal(forged.status, 403);
      await forged.body?.cancel();
      assert.equal((await h.runtime.store.listAcks()).length, 1);
      const done = await end(csrf);
      assert.equal(done.status, 303);
      await done.body?.cancel();
      assert.match(card(await silencesPage(h), "Acked fingerprints"), /None\./);

      // An ack that has lapsed (quiet for ack_quiet) is shown as over, without a button.
      await h.runtime.store.storm.ack(fp, { actor: "dana", at: h.now() });
      h.advance(3 * 60 * MIN);
      const lapsed = card(await silencesPage(h), "Acked fingerprints");
      assert.match(lapsed, /dana/);
      assert.match(lapsed, /2026-03-02 12:07:00 UTC \(quiet for 2 h\)/);
      assert.doesNotMatch(lapsed, /\/end"/);
    },
  });

  Deno.test({
    name:
      `/silences (${name}): the New silence form makes a silence by the signed-in user; a bad field is a 400 naming it, a forged form a 403`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await using h = await open();
      const html = await silencesPage(h);
      const form = card(html, "New silence");
      assert.match(
        form,
        /<form method="post" action="http:\/\/127\.0\.0\.1:8080\/silences"/,
      );
      assert.match(form, /<option\s+value="\*">/);
      assert.match(form, /<option\s+value="ids">ids<\/option>/);
      const csrf = /name="csrf" value="([^"]+)"/.exec(form)![1]!;
      const post = async (fields: Record<string, string>) => {
        const res = await h.request(`${BASE}/silences`, {
          method: "POST",
          headers: {
            ...AUTH,
            "content-type": "application/x-www-form-urlencoded",
          },
          body: new URLSearchParams(fields),
        });
        return { status: res.status, html: await res.text() };
      };
      const bad: [Record<string, string>, string][] = [
        [{ detector: "ids", for: "" }, "for: a silence needs an end"],
        [
          { detector: "ids", for: "31d" },
          "for: must be more than 0 and at most 30d",
        ],
        [{ detector: "ids", for: "soon" }, "for: Invalid duration"],
        [{ detector: "ids", for: "4h", match: "alert.src_ip ==" }, "match: "],
        [
          { detector: "idz", for: "4h" },
          "detector: unknown detector &quot;idz&quot;",
        ],
      ];
      for (const [fields, message] of bad) {
        const res = await post({ csrf, ...fields });
        assert.equal(res.status, 400, JSON.stringify(fields));
        assert.ok(res.html.includes(message), res.html);
      }
      const forged = await post({ csrf: "forged", detector: "ids", for: "4h" });
      assert.equal(forged.status, 403);
      const anonymous = await h.request(`${BASE}/silences`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ csrf, detector: "ids", for: "4h" }),
      });
      assert.equal(anonymous.status, 401, "behind ui_auth");
      await anonymous.body?.cancel();
      assert.deepEqual(
        await h.runtime.store.storm.listSilences({ now: h.now(), all: true }),
        [],
        "nothing stored",
      );

      const made = await post({
        csrf,
        detector: "ids",
        match: 'alert.src_ip == "203.0.113.7"',
        for: "2h",
        comment: "pentest",
      });
      assert.equal(made.status, 303);
      const [silence] = await h.runtime.store.storm.listSilences({
        now: h.now(),
      });
      assert.equal(silence?.created_by, "ana", "the signed-in user");
      assert.equal(silence?.detector, "ids");
      assert.equal(silence?.comment, "pentest");
      assert.equal(
        Date.parse(silence!.ends_at) - Date.parse(silence!.starts_at),
        120 * MIN,
      );
      const held = await h.ingest(suricata(2001, "203.0.113.7"));
      assert.equal(held.suppressed_by, "silence");
      assert.equal(
        (await h.runtime.store.getAlert(held.alert_id))?.silence_id,
        silence!.id,
      );
      const other = await h.ingest(suricata(2001, "198.51.100.1"));
      assert.equal(other.sent, true, "the match keeps other alerts out");
      assert.match(card(await silencesPage(h), "Active silences"), /pentest/);
    },
  });
}

cases("SQLite", () =>
  stormHarness(DETECTORS, {
    ui_auth: { users: [{ username: "ana", password: "analyst-pass-1" }] },
  }), false);

cases(
  "PostgreSQL",
  () =>
    onPostgres((store) =>
      stormHarness(DETECTORS, {
        ui_auth: { users: [{ username: "ana", password: "analyst-pass-1" }] },
        ...store,
      })
    ),
  !hasPostgres(),
);
