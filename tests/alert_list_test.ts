/**
 * `GET /alerts` as an analyst uses it, through `app.request()` on a runtime with an injected clock, on
 * the SQLite store and on a throwaway PostgreSQL server: a storm is one row per fingerprint with its
 * count and state, an alert without storm config is its own row, filters combine and survive
 * pagination, an invalid filter is a 400 naming the parameter, a storm expands into its alerts.
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
    severity: { field: "level", default: "medium" },
    storm: { fingerprint: ["alert.signature_id", "src_ip"], realert: "10m" },
  },
  web: { subject: "WAF {host}", enrichments: [] },
};

async function page(h: StormHarness, query: string) {
  const res = await h.request(`${BASE}/alerts${query}`, { headers: AUTH });
  return { status: res.status, html: await res.text() };
}

/** The data rows of the list (the header row has class "head"). */
function rows(html: string): string[] {
  return [...html.matchAll(/<tr\s*>(.*?)<\/tr>/gs)].map((m) => m[1]!);
}

function nextHref(html: string): string | undefined {
  const href = /<a href="([^"]+)">Older alerts<\/a>/.exec(html)?.[1];
  return href?.replaceAll("&amp;", "&");
}

/**
 * 10:02 two alerts of one fingerprint (2002 from 198.51.100.77, high); 12:02 a storm of 60 of another
 * (2001 from 203.0.113.7), one a second, 59 held by realert; 12:05 two alerts of `web` (no storm).
 */
async function scene(h: StormHarness) {
  const early = [
    await h.ingest(suricata(2002, "198.51.100.77", { level: "high" })),
    await h.ingest(suricata(2002, "198.51.100.77", { level: "high" })),
  ];
  h.advance(120 * MIN);
  const storm = [];
  for (let i = 0; i < 60; i++) {
    storm.push(await h.ingest(suricata(2001, "203.0.113.7", { n: i })));
    h.advance(1000);
  }
  h.advance(2 * MIN);
  const web = [
    await h.ingest({ host: "web-1.example.org" }, "web"),
    await h.ingest({ host: "web-2.example.org" }, "web"),
  ];
  return { early, storm, web };
}

function cases(
  name: string,
  open: () => Promise<StormHarness>,
  ignore = false,
) {
  Deno.test({
    name:
      `/alerts (${name}): a storm is one row with its count, state and notified alert`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await using h = await open();
      const { early, storm, web } = await scene(h);
      const fp = (await h.runtime.store.getAlert(storm[0]!.alert_id))!
        .fingerprint!;
      const list = await page(h, "");
      assert.equal(list.status, 200, list.html);
      const found = rows(list.html);
      assert.equal(found.length, 4, "two storms and two plain alerts");
      const row = found.find((r) => r.includes(`fingerprint=${fp}`))!;
      assert.ok(row, "the storm's row links its alerts");
      assert.match(row, new RegExp(`fingerprint=${fp}" class="count">60<`));
      assert.match(row, /IDS ET RULE 2001 from 203\.0\.113\.7/);
      assert.match(row, /alert\.signature_id=2001, src_ip=203\.0\.113\.7/);
      assert.match(row, />suppressed<\/span>/);
      assert.ok(
        row.includes(
          `realert · <a href="${BASE}/alerts/${
            storm[0]!.alert_id
          }">mailed as</a>`,
        ),
        row,
      );
      assert.match(row, /first 2026-03-02 12:02:00 UTC/);
      assert.match(row, /2026-03-02 12:02:59 UTC/);
      const plain = found.find((r) => r.includes(web[1]!.alert_id))!;
      assert.match(plain, />notifying<\/span>/);
      assert.match(plain, /WAF web-2\.example\.org/);
      assert.match(
        plain,
        new RegExp(`href="${BASE}/alerts/${web[1]!.alert_id}"`),
      );
      assert.ok(
        found.indexOf(plain) < found.indexOf(row),
        "newest last seen first",
      );

      // Acked and silenced states.
      const earlyFp = (await h.runtime.store.getAlert(early[0]!.alert_id))!
        .fingerprint!;
      await h.runtime.store.storm.ack(earlyFp, { actor: "bob", at: h.now() });
      await addSilence({
        store: h.runtime.store,
        clock: () => h.now(),
        detectors: ["ids", "web"],
      }, { detector: "web", forMs: 60 * MIN, createdBy: "carol", comment: "" });
      const held = await h.ingest({ host: "web-3.example.org" }, "web");
      assert.equal(held.suppressed_by, "silence");
      const states = rows((await page(h, "")).html);
      assert.match(
        states.find((r) => r.includes(`fingerprint=${earlyFp}`))!,
        />acked<\/span>.*by bob/s,
      );
      assert.match(
        states.find((r) => r.includes(held.alert_id))!,
        /held before it was rendered.*>silenced<\/span>/s,
      );
      // ?state= lists exactly the rows showing that state (decided in the store, before the page).
      const badge = (r: string) =>
        /class="badge"[^>]*>(notifying|suppressed|silenced|acked)<\/span>/
          .exec(r)?.[1];
      const shown = new Set(states.map(badge));
      assert.equal(shown.size, 4, "every state is on the page");
      for (const state of ["notifying", "suppressed", "silenced", "acked"]) {
        const filtered = await page(h, `?state=${state}`);
        assert.equal(filtered.status, 200, filtered.html);
        assert.deepEqual(
          rows(filtered.html),
          states.filter((r) => badge(r) === state),
          state,
        );
        assert.match(filtered.html, new RegExp(`value="${state}" selected>`));
      }
      const acked = rows((await page(h, "?state=acked")).html)[0]!;
      assert.ok(
        acked.includes(`?fingerprint=${earlyFp}"`),
        "a storm's alerts are not filtered by the state its row had",
      );

      // Expanded: the storm's alerts, paged with the keyset cursor, filters kept.
      let href: string | undefined =
        `${BASE}/alerts?fingerprint=${fp}&status=suppressed`;
      const seen = new Set<string>();
      for (let pages = 0; href && pages < 5; pages++) {
        const res = await h.request(href, { headers: AUTH });
        const html = await res.text();
        assert.equal(res.status, 200, html);
        assert.match(
          html,
          /Storm: alert\.signature_id=2001, src_ip=203\.0\.113\.7/,
        );
        for (const r of rows(html)) {
          const id = /\/alerts\/([^"?]+)"/.exec(r)?.[1];
          assert.ok(id && !seen.has(id), `each alert once: ${id}`);
          seen.add(id);
          assert.match(r, /suppressed/);
        }
        href = nextHref(html);
        if (href) {
          assert.match(href, new RegExp(`fingerprint=${fp}`));
          assert.match(href, /status=suppressed/);
          assert.match(href, /before_id=/);
        }
      }
      assert.equal(seen.size, 59, "every held alert of the storm, over pages");

      // A held alert's page links its storm; view=alerts lists every alert, ungrouped and paged.
      const detail = await h.request(`${BASE}/alerts/${storm[5]!.alert_id}`, {
        headers: AUTH,
      });
      assert.ok(
        (await detail.text()).includes(
          `href="${BASE}/alerts?fingerprint=${fp}"`,
        ),
      );
      const flat = await page(h, "?view=alerts&detector=ids");
      assert.equal(rows(flat.html).length, 50);
      assert.match(nextHref(flat.html) ?? "", /view=alerts.*before_id=/);
      assert.ok(!seen.has(storm[0]!.alert_id), "the mailed one is delivered");
    },
  });

  Deno.test({
    name:
      `/alerts (${name}): search, detector, severity, status and time filters combine; bad ones are a 400 naming the parameter`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await using h = await open();
      await scene(h);
      const ids = async (query: string) => {
        const { status, html } = await page(h, query);
        assert.equal(status, 200, html);
        return rows(html).map((r) => {
          const count = /class="count">(\d+)</.exec(r)?.[1];
          return `${/IDS ET RULE \d+|WAF [\w.-]+/.exec(r)?.[0]}=${count}`;
        });
      };
      assert.deepEqual(await ids("?q=198.51.100.77"), ["IDS ET RULE 2002=2"]);
      assert.deepEqual(await ids("?q=web-1.example.org"), [
        "WAF web-1.example.org=1",
      ]);
      assert.deepEqual(await ids("?detector=web"), [
        "WAF web-2.example.org=1",
        "WAF web-1.example.org=1",
      ]);
      assert.deepEqual(await ids("?severity=high"), ["IDS ET RULE 2002=2"]);
      assert.deepEqual(await ids("?status=suppressed&detector=ids"), [
        "IDS ET RULE 2001=59",
        "IDS ET RULE 2002=1",
      ]);
      assert.deepEqual(await ids("?reason=realert"), [
        "IDS ET RULE 2001=59",
        "IDS ET RULE 2002=1",
      ]);
      assert.deepEqual(await ids("?reason=silence"), []);
      assert.deepEqual(await ids("?since=1h&detector=ids"), [
        "IDS ET RULE 2001=60",
      ]);
      assert.deepEqual(await ids("?until=2026-03-02T11:00"), [
        "IDS ET RULE 2002=2",
      ]);
      assert.deepEqual(
        await ids(
          "?q=203.0.113.7&status=suppressed&since=2026-03-02T12:02:30Z&until=2026-03-02T12:02:39Z",
        ),
        ["IDS ET RULE 2001=10"],
      );
      const form = (await page(h, "?q=203.0.113.7&severity=medium&since=24h"))
        .html;
      assert.match(form, /name="q" value="203\.0\.113\.7"/);
      assert.match(form, /value="medium" selected>/);
      assert.match(form, /name="since" value="24h"/);

      const invalid: [string, string][] = [
        ["?since=yesterday", "since"],
        ["?until=2026-13-40T99:00", "until"],
        ["?since=1h&until=2h", "until"],
        ["?severity=urgent", "severity"],
        ["?status=bogus", "status"],
        ["?reason=forgot", "reason"],
        ["?view=table", "view"],
        ["?before=tuesday", "before"],
        ["?detectr=ids", "detectr"],
        ["?state=firing", "state"],
        ["?view=alerts&state=acked", "state"],
        ["?fingerprint=abc&state=acked", "state"],
      ];
      for (const [query, param] of invalid) {
        const bad = await page(h, query);
        assert.equal(bad.status, 400, query);
        assert.ok(bad.html.includes(`Invalid &quot;${param}&quot;`), bad.html);
      }

      // 52 more fingerprints: the grouped list pages with (last seen, key), the filter kept.
      for (let i = 0; i < 52; i++) {
        await h.ingest(suricata(3000 + i, "192.0.2.9"));
        h.advance(1000);
      }
      let href: string | undefined = `${BASE}/alerts?q=192.0.2.9`;
      const groups: string[] = [];
      for (let pages = 0; href && pages < 5; pages++) {
        const res = await h.request(href, { headers: AUTH });
        const html = await res.text();
        assert.equal(res.status, 200, html);
        const found = rows(html);
        assert.ok(found.length <= 50, "one page is at most 50 rows");
        groups.push(...found.map((r) => /IDS ET RULE \d+/.exec(r)![0]));
        href = nextHref(html);
        if (href) assert.match(href, /q=192\.0\.2\.9.*before_key=/);
      }
      assert.equal(groups.length, 52);
      assert.equal(new Set(groups).size, 52, "each group once");
      assert.equal(groups[0], "IDS ET RULE 3051");
    },
  });
}

cases("SQLite", () =>
  stormHarness(DETECTORS, {
    ui_auth: { users: [{ username: "ana", password: "analyst-pass-1" }] },
  }));

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
