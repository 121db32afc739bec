import assert from "node:assert/strict";
import { simpleParser } from "mailparser";
import { buildMime, formatAddress } from "./mime.ts";

const decoder = new TextDecoder();

function message(overrides: Partial<Parameters<typeof buildMime>[0]> = {}) {
  return buildMime({
    from: "Blitz Alerts <blitz@example.test>",
    to: ["soc@example.test"],
    cc: [],
    subject: "Alert",
    html: "<p>hi</p>",
    text: "hi",
    messageId: "<a1@blitz.test>",
    headers: { "X-Blitz-Alert-Id": "a1" },
    date: new Date("2026-11-28T03:00:00Z"),
    ...overrides,
  });
}

Deno.test("buildMime() round-trips non-ASCII subjects, names and bodies through a mail parser", async () => {
  const subject = "Alerte : connexion refusée depuis 192.0.2.10 — 攻撃 " +
    "x".repeat(120);
  const raw = message({
    from: "Équipe SOC <soc@example.test>",
    to: ['Zoë "Ops" <zoe@example.test>', "plain@example.test"],
    cc: ["Audit, Team <audit@example.test>"],
    subject,
    html: "<p>Données: <b>é</b></p>",
    text: "Données: é\nligne 2",
  });
  const text = decoder.decode(raw);
  for (const line of text.split("\r\n")) {
    assert.ok(line.length <= 998, "no line over the RFC 5322 limit");
  }
  assert.doesNotMatch(text, /[^\r]\n/, "CRLF line endings only");
  const parsed = await simpleParser(text);
  assert.equal(parsed.subject, subject);
  assert.equal(parsed.from?.value[0]?.name, "Équipe SOC");
  const to = Array.isArray(parsed.to) ? parsed.to[0] : parsed.to;
  assert.deepEqual(to?.value.map((a) => [a.name, a.address]), [
    ['Zoë "Ops"', "zoe@example.test"],
    ["", "plain@example.test"],
  ]);
  const cc = Array.isArray(parsed.cc) ? parsed.cc[0] : parsed.cc;
  assert.deepEqual(cc?.value.map((a) => [a.name, a.address]), [[
    "Audit, Team",
    "audit@example.test",
  ]]);
  assert.equal(parsed.html, "<p>Données: <b>é</b></p>");
  assert.equal(parsed.text, "Données: é\nligne 2");
  assert.equal(parsed.messageId, "<a1@blitz.test>");
  assert.equal(parsed.headers.get("x-blitz-alert-id"), "a1");
  assert.equal(parsed.date?.toISOString(), "2026-11-28T03:00:00.000Z");
});

Deno.test("buildMime() threads follow-ups with In-Reply-To and References", async () => {
  const parsed = await simpleParser(decoder.decode(message({
    inReplyTo: "<alert@blitz.test>",
    references: ["<alert@blitz.test>"],
  })));
  assert.equal(parsed.inReplyTo, "<alert@blitz.test>");
  assert.equal(parsed.references, "<alert@blitz.test>");
});

Deno.test("buildMime() encodes a subject that looks like an encoded word, so it is shown literally", async () => {
  const subject = "=?UTF-8?B?SGk=?= literal";
  const parsed = await simpleParser(decoder.decode(message({ subject })));
  assert.equal(parsed.subject, subject);
});

Deno.test("formatAddress() quotes names with specials and keeps plain addresses", () => {
  assert.equal(formatAddress("a@example.test"), "a@example.test");
  assert.equal(
    formatAddress("Blitz <a@example.test>"),
    "Blitz <a@example.test>",
  );
  assert.equal(
    formatAddress("Doe, Jane <a@example.test>"),
    '"Doe, Jane" <a@example.test>',
  );
});
