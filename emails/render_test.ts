import assert from "node:assert/strict";
import {
  type EmailModel,
  renderAlertEmail,
  renderFollowUpEmail,
} from "./mod.ts";
import { h } from "preact";
import { render } from "preact-render-to-string";
import { kickerHtml } from "./_Header.tsx";

const IMG = `<img src=x onerror=alert(1)>`;
const BREAKOUT = `"><a href="javascript:alert(1)">`;

function model(overrides: Partial<EmailModel> = {}): EmailModel {
  return {
    title: "Suspicious login",
    subject: "Blitz: suspicious login",
    detector: "vpn_logins",
    alertId: "0190f1e2-7a3b-7c4d-8e5f-6a7b8c9d0e1f",
    receivedAt: "2025-03-04T05:06:07.890Z",
    enrichments: [],
    sendResults: [],
    buttons: [],
    ...overrides,
  };
}

/** Every `href` value in the HTML. */
function hrefs(html: string): string[] {
  return [...html.matchAll(/\shref="([^"]*)"/g)].map((m) => m[1]!);
}

function assertNoInjection(html: string) {
  assert.doesNotMatch(html, /<img/i);
  assert.doesNotMatch(html, /<a href="javascript:/i);
  assert.doesNotMatch(html, /<script|<style|<link|<iframe/i);
  for (const href of hrefs(html)) assert.match(href, /^https?:\/\//);
}

Deno.test("renderAlertEmail() escapes alert fields, enrichment data and button labels", () => {
  const { html, text } = renderAlertEmail(model({
    title: `${IMG} ${BREAKOUT}`,
    subject: BREAKOUT,
    detector: IMG,
    alertId: BREAKOUT,
    conditionNote: IMG,
    enrichments: [
      {
        name: IMG,
        status: "ok",
        ms: 12,
        data: { [IMG]: BREAKOUT, [BREAKOUT]: [IMG, { [IMG]: IMG }] },
      },
      { name: BREAKOUT, status: "error", ms: 3, error: IMG },
    ],
    sendResults: [{ name: IMG, value: BREAKOUT }],
    alertJson: { src: IMG, note: BREAKOUT },
    buttons: [{
      label: IMG,
      color: "#2563eb",
      href: "https://blitz.example/a/tok",
    }],
  }));
  assertNoInjection(html);
  assert.ok(
    html.includes("&lt;img src=x onerror=alert(1)>"),
    "the vector is shown as text",
  );
  assert.ok(
    html.includes(`&quot;>&lt;a href=&quot;javascript:alert(1)&quot;>`),
    "the breakout is shown as text",
  );
  assert.deepEqual(hrefs(html), ["https://blitz.example/a/tok"]);
  // The plain-text part carries the same values verbatim.
  assert.ok(text.includes(IMG));
  assert.ok(text.includes(BREAKOUT));
});

Deno.test("renderAlertEmail() drops hrefs that are not http or https", () => {
  const bad = [
    "javascript:alert(1)",
    " JavaScript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<b>x</b>",
    "/relative",
    "mailto:x@y.test",
  ];
  const { html, text } = renderAlertEmail(model({
    buttons: [
      ...bad.map((href, i) => ({ label: `Bad ${i}`, color: "#c4353c", href })),
      {
        label: "Good",
        color: "red;background:url(https://evil.test/x)",
        href: "http://127.0.0.1:8080/a/ok",
      },
    ],
  }));
  assertNoInjection(html);
  assert.deepEqual(hrefs(html), ["http://127.0.0.1:8080/a/ok"]);
  for (let i = 0; i < bad.length; i++) {
    assert.ok(html.includes(`Bad ${i}`), `label ${i} still shown`);
  }
  assert.equal(html.match(/\(link unavailable\)/g)?.length, bad.length);
  assert.doesNotMatch(
    html,
    /evil\.test/,
    "a color is never copied into CSS unchecked",
  );
  assert.doesNotMatch(text, /javascript:|data:text/i);
});

Deno.test("renderAlertEmail() is a full, self-contained email document", () => {
  const { html } = renderAlertEmail(
    model({
      buttons: [{ label: "Block", color: "blue", href: "https://x.test/" }],
    }),
  );
  assert.match(
    html,
    /^<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">/,
  );
  assert.match(
    html,
    /<meta name="viewport" content="width=device-width, initial-scale=1">/,
  );
  assert.match(html, /<title>Blitz: suspicious login<\/title>/);
  assert.match(html, /width="600"[^>]*style="width:100%;max-width:600px;/);
  assert.doesNotMatch(html, /<style|<script|<link|<img|@import|url\(/i);
  assert.doesNotMatch(html, /class=/);
  assert.ok(html.includes("2025-03-04 05:06:07 UTC"));
});

Deno.test("the kicker is escaped as preact escapes text, with &middot; for its separator: an ASCII alert makes an ASCII document", () => {
  for (
    const kicker of [
      `Blitz alert · ${IMG}`,
      `Blitz silence · ${BREAKOUT}`,
      `a"b&c<d>e'f&amp;`,
      "naïve · ünïcode · 日本",
      "plain",
      "",
    ]
  ) {
    const ours = render(
      h("div", { dangerouslySetInnerHTML: { __html: kickerHtml(kicker) } }),
    );
    const preacts = render(h("div", null, kicker)).replaceAll(
      "\u00b7",
      "&middot;",
    );
    assert.equal(ours, preacts, kicker);
  }
  const alert = renderAlertEmail(model());
  assert.ok(
    alert.html.includes("<span>Blitz alert &middot; vpn_logins</span>"),
  );
  const followUp = renderFollowUpEmail({
    title: "Suspicious login",
    actor: "analyst@example.org",
    button: "Create JIRA",
    at: "2025-03-04T05:10:00.000Z",
    steps: [{ name: "jira_id", status: "ok", value: "SOC-12" }],
  });
  for (const html of [alert.html, followUp.html]) {
    assert.doesNotMatch(
      html,
      /[\u0080-\uffff]/,
      "an ASCII alert's HTML is ASCII",
    );
  }
});

Deno.test("renderAlertEmail() shows each enrichment's status", () => {
  const { html, text } = renderAlertEmail(model({
    conditionNote: "No enrichment condition matched this alert",
    enrichments: [
      {
        name: "whois",
        status: "ok",
        ms: 120,
        data: "NetRange: 1.1.1.0 - 1.1.1.255\nOrgName: APNIC",
      },
      { name: "reverse_dns", status: "timeout", ms: 5004, timeoutMs: 5000 },
      { name: "geoip", status: "timeout", ms: 2500 },
      {
        name: "jira_search",
        status: "error",
        ms: 40,
        error: "HTTP 503 from jira",
      },
      { name: "es_history", status: "skipped", ms: 0 },
    ],
    notRun: ["vt_lookup", "asset_db"],
  }));
  for (const out of [html, text]) {
    assert.ok(out.includes("No enrichment condition matched this alert"));
    assert.ok(out.includes("reverse_dns — timed out after 5 s"));
    assert.ok(out.includes("geoip — timed out after 2.5 s"));
    assert.ok(out.includes("jira_search — failed: HTTP 503 from jira"));
    assert.ok(
      !out.includes("es_history"),
      "a disabled enrichment is not shown",
    );
    assert.ok(!/skipped/i.test(out));
    assert.ok(
      out.includes(
        "Not run (their condition did not match): vt_lookup, asset_db",
      ),
      "enrichments of unmatched blocks: one quiet line",
    );
    assert.ok(out.includes("OrgName: APNIC"));
  }
  const order = ["whois", "reverse_dns", "geoip", "jira_search"]
    .map((n) => html.indexOf(`>${n}<`));
  assert.ok(
    order.every((pos, i) => pos > 0 && (i === 0 || pos > order[i - 1]!)),
    `sections in order: ${order}`,
  );
  assert.match(
    html,
    /<pre[^>]*white-space:pre-wrap[^>]*>NetRange: 1\.1\.1\.0 - 1\.1\.1\.255\nOrgName: APNIC<\/pre>/,
  );
  assert.match(
    html,
    /border-left:4px solid #d08a0c/,
    "timeout sections carry a status color",
  );
  assert.match(
    html,
    /border-left:4px solid #c4353c/,
    "error sections carry a status color",
  );
});

Deno.test("renderAlertEmail() renders an array of objects as a table with the union of keys", () => {
  const rows = [{ ip: "10.0.0.1", port: 22 }, { ip: "10.0.0.2", user: "root" }];
  const { html, text } = renderAlertEmail(
    model({ enrichments: [{ name: "hits", status: "ok", ms: 1, data: rows }] }),
  );
  const header = html.match(
    /<tr><th[^>]*scope="col"[^>]*>ip<\/th><th[^>]*scope="col"[^>]*>port<\/th><th[^>]*scope="col"[^>]*>user<\/th><\/tr>/,
  );
  assert.ok(header, "one header row with ip, port, user");
  const cells = (row: string) =>
    [...row.matchAll(/<td[^>]*>(.*?)<\/td>/g)].map((m) =>
      m[1]!.replace(/<[^>]+>/g, "")
    );
  const bodyRows = [
    ...html.slice(header.index!).matchAll(/<tr[^>]*>(<td.*?)<\/tr>/g),
  ].map((m) => cells(m[1]!));
  assert.deepEqual(bodyRows.slice(0, 2), [["10.0.0.1", "22", ""], [
    "10.0.0.2",
    "",
    "root",
  ]]);
  assert.ok(text.includes("- ip: 10.0.0.1\n      port: 22"), text);
});

Deno.test("renderAlertEmail() shows rows wider than the column limit one key/value table each", () => {
  const row = Object.fromEntries(
    Array.from({ length: 8 }, (_, i) => [`field_${i}`, `value_${i}`]),
  );
  const { html, text } = renderAlertEmail(
    model({
      enrichments: [{ name: "wide", status: "ok", ms: 1, data: [row, row] }],
    }),
  );
  assert.doesNotMatch(html, /scope="col"/);
  assert.ok(html.includes("Row 2 of 2"));
  assert.equal(html.match(/>field_7<\/th>/g)?.length, 2);
  assert.ok(
    text.includes("    - field_0: value_0\n      field_1: value_1"),
    text,
  );
});

Deno.test("renderAlertEmail() renders objects as key/value tables and scalar arrays as lists", () => {
  const data = {
    country: "NL",
    tags: ["vpn", "tor"],
    flags: { abuse: true, score: 0.5, owner: null },
  };
  const { html, text } = renderAlertEmail(
    model({ enrichments: [{ name: "intel", status: "ok", ms: 1, data }] }),
  );
  assert.match(
    html,
    /<th[^>]*scope="row"[^>]*>country<\/th><td[^>]*><span[^>]*>NL<\/span><\/td>/,
  );
  assert.match(
    html,
    /<ul[^>]*><li[^>]*><span[^>]*>vpn<\/span><\/li><li[^>]*><span[^>]*>tor<\/span><\/li><\/ul>/,
  );
  assert.match(
    html,
    /<th[^>]*scope="row"[^>]*>abuse<\/th><td[^>]*><span[^>]*>true<\/span>/,
  );
  assert.ok(
    text.includes(
      "    country: NL\n    tags:\n        - vpn\n        - tor\n    flags:\n        abuse: true",
    ),
    text,
  );
});

Deno.test("renderAlertEmail() caps depth and size with a note", () => {
  let deep: unknown = "bottom";
  for (let i = 0; i < 20; i++) deep = { level: deep };
  const many = Array.from({ length: 250 }, (_, i) => i);
  const { html, text } = renderAlertEmail(model({
    enrichments: [{ name: "big", status: "ok", ms: 1, data: { deep, many } }],
  }));
  assert.ok(html.includes("… 50 more items"));
  assert.ok(text.includes("… 50 more items"));
  assert.ok(
    html.includes(`{&quot;level&quot;:{&quot;level&quot;`),
    "the deep part is shown as JSON",
  );
  assert.ok(html.length < 200_000);
});

Deno.test("renderAlertEmail() prints template markers literally", () => {
  const { html, text } = renderAlertEmail(model({
    title: "Login by {user} from {ip_src_addr}",
    enrichments: [{
      name: "raw",
      status: "ok",
      ms: 1,
      data: { note: "{other_key} and ${env:SECRET} and {{x}}" },
    }],
    sendResults: [{ name: "summary", value: "{alertId}" }],
  }));
  for (const out of [html, text]) {
    assert.ok(out.includes("Login by {user} from {ip_src_addr}"));
    assert.ok(out.includes("{other_key} and ${env:SECRET} and {{x}}"));
    assert.ok(out.includes("{alertId}"));
  }
});

Deno.test("renderAlertEmail() text part lists results, button URLs and the alert JSON", () => {
  const { html, text } = renderAlertEmail(model({
    sendResults: [{ name: "ticket", value: { key: "SEC-42" } }, {
      name: "owner",
      value: "alice",
    }],
    buttons: [
      {
        label: "Block IP",
        color: "#c4353c",
        href: "https://blitz.example/a/AAA",
      },
      {
        label: "Open ticket",
        color: "#2563eb",
        href: "https://blitz.example/a/BBB",
      },
    ],
    alertJson: { ip_src_addr: "203.0.113.9", user: "bob" },
  }));
  assert.ok(text.startsWith("Suspicious login\n"));
  assert.ok(text.includes("\nBlock IP\nhttps://blitz.example/a/AAA\n"), text);
  assert.ok(
    text.includes("\nOpen ticket\nhttps://blitz.example/a/BBB\n"),
    text,
  );
  assert.ok(text.includes("ticket:\n    key: SEC-42\nowner: alice"), text);
  assert.ok(text.includes(`"ip_src_addr": "203.0.113.9"`));
  assert.match(
    html,
    /<pre[^>]*>\{\n {2}&quot;ip_src_addr&quot;: &quot;203\.0\.113\.9&quot;/,
  );
  assert.match(
    html,
    /<a href="https:\/\/blitz\.example\/a\/AAA"[^>]*background-color:#c4353c;color:#ffffff;[^>]*>Block IP<\/a>/,
  );
});

Deno.test("renderFollowUpEmail() reports who ran which steps and escapes them", () => {
  const { html, text } = renderFollowUpEmail({
    title: `Action ran: ${IMG}`,
    actor: BREAKOUT,
    button: "Block IP",
    at: "2025-03-04T05:10:00Z",
    steps: [
      { name: "firewall_block", status: "ok", value: { rule: 1234 } },
      { name: "jira_create", status: "error", error: `HTTP 400: ${IMG}` },
    ],
  });
  assertNoInjection(html);
  assert.ok(html.includes("&lt;img src=x onerror=alert(1)>"));
  for (const out of [html, text]) {
    assert.ok(out.includes("firewall_block"));
    assert.ok(out.includes("1234"));
    assert.ok(out.includes("2025-03-04 05:10:00 UTC"));
  }
  assert.ok(text.includes(`jira_create [error]\n    HTTP 400: ${IMG}`));
  assert.ok(text.includes(`Pressed by:  ${BREAKOUT}`));
});

Deno.test("renderAlertEmail() marks bidi overrides in the body; headerSafe() drops them from headers", async () => {
  const { headerSafe } = await import("../core/headers.ts");
  const spoof = "invoice\u202efdp.exe";
  const { html, text } = renderAlertEmail(model({
    title: spoof,
    subject: spoof,
    keyFields: [["file", `a\u2066b\u2069c\u200f`]],
    alertJson: { name: spoof },
  }));
  for (const part of [html, text]) {
    assert.ok(!/[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/u.test(part));
    assert.ok(part.includes("invoice[U+202E]fdp.exe"), part.slice(0, 400));
    assert.ok(part.includes("a[U+2066]b[U+2069]c[U+200F]"));
  }
  assert.equal(headerSafe(spoof), "invoicefdp.exe");
  assert.equal(headerSafe("a\u2066b\u2069 c\u200e"), "ab c");
});
