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
    to: ['"Zoë \\"Ops\\"" <zoe@example.test>', "plain@example.test"],
    cc: ['"Audit, Team" <audit@example.test>'],
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
    formatAddress('"Doe, Jane" <a@example.test>'),
    '"Doe, Jane" <a@example.test>',
  );
  assert.equal(
    formatAddress('"He said \\"hi\\"" <a@example.test>'),
    '"He said \\"hi\\"" <a@example.test>',
    "an escaped quote is escaped once, not twice",
  );
});

/** The To header of `raw` as mailparser reads it: [name, address] per mailbox. */
async function parsedTo(raw: Uint8Array): Promise<[string, string][]> {
  const parsed = await simpleParser(decoder.decode(raw));
  const to = Array.isArray(parsed.to) ? parsed.to[0] : parsed.to;
  return (to?.value ?? []).map((a) => [a.name, a.address ?? ""]);
}

/** The lines of the From, To and Cc headers, continuation lines included. */
function addressLines(lines: string[]): string[] {
  let inside = false;
  return lines.filter((line) => {
    if (!/^\s/.test(line)) inside = /^(From|To|Cc): /.test(line);
    return inside;
  });
}

/** The lines of the message's header block (before the blank line), unfolded nothing. */
function headerLines(raw: Uint8Array): string[] {
  return decoder.decode(raw).split("\r\n\r\n", 1)[0]!.split("\r\n");
}

Deno.test("addresses round-trip through mailparser: escaped quotes once, commas in quoted names, backslashes", async () => {
  const cases: [string, [string, string]][] = [
    ['"He said \\"hi\\"" <a@example.test>', ['He said "hi"', "a@example.test"]],
    ['"Doe, Jane" <jane@example.test>', ["Doe, Jane", "jane@example.test"]],
    ['"C:\\\\Temp" <t@example.test>', ["C:\\Temp", "t@example.test"]],
    ["Jane Doe <jane@example.test>", ["Jane Doe", "jane@example.test"]],
    ["<bare@example.test>", ["", "bare@example.test"]],
    ['"=?UTF-8?B?SGk=?=" <w@example.test>', [
      "=?UTF-8?B?SGk=?=",
      "w@example.test",
    ]],
  ];
  for (const [input, expected] of cases) {
    const raw = message({ to: [input] });
    assert.deepEqual(await parsedTo(raw), [expected], input);
    const to = headerLines(raw).find((l) => l.startsWith("To: "))!;
    assert.doesNotMatch(to, /\\\\"/, `no doubled escape in ${to}`);
  }
});

Deno.test("a 1,200-character display name is folded: no header line over 998 (nor over 78)", async () => {
  for (
    const name of [
      "Security Operations ".repeat(60).trim(), // ASCII with spaces: a folded quoted-string
      "x".repeat(1200), // no space to fold at: encoded words
      "Équipe ".repeat(170).trim(), // non-ASCII: encoded words
    ]
  ) {
    const raw = message({
      from: `"${name}" <blitz@example.test>`,
      to: [`"${name}" <soc@example.test>`],
    });
    const lines = headerLines(raw);
    assert.ok(lines.every((line) => line.length <= 998));
    for (const line of addressLines(lines)) {
      assert.ok(
        line.length <= 78,
        `line of ${line.length}: ${line.slice(0, 60)}…`,
      );
    }
    assert.deepEqual(await parsedTo(raw), [[name, "soc@example.test"]]);
    const parsed = await simpleParser(decoder.decode(raw));
    assert.equal(parsed.from?.value[0]?.name, name);
  }
});

Deno.test("an internationalised domain goes into From/To/Cc in punycode, as in the envelope", async () => {
  const raw = message({
    from: "Blitz <blitz@bücher.example>",
    to: ["Jörg <joerg@bücher.example>", "soc@example.test"],
    cc: ["ops@straße.example"],
  });
  const headers = addressLines(headerLines(raw));
  for (const line of headers) {
    assert.match(line, /^[\x20-\x7e]*$/, `ASCII-only header line: ${line}`);
  }
  const text = headers.join("\n");
  assert.match(text, /blitz@xn--bcher-kva\.example/);
  assert.match(text, /@xn--strae-oqa\.example/);
  const parsed = await simpleParser(decoder.decode(raw));
  const to = Array.isArray(parsed.to) ? parsed.to[0] : parsed.to;
  // mailparser shows the domain decoded back to Unicode: the same address the sender wrote.
  assert.deepEqual(to?.value.map((a) => a.address), [
    "joerg@bücher.example",
    "soc@example.test",
  ]);
  assert.equal(to?.value[0]?.name, "Jörg");
});
