import assert from "node:assert/strict";

const LOG_MODULE = new URL("./log.ts", import.meta.url).href;
const SECRETS_MODULE = new URL("./secrets.ts", import.meta.url).href;

/** Runs a script that uses the JSON logger; returns its stderr lines. */
async function run(body: string): Promise<string[]> {
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(
      file,
      `import { flushLogs, jsonLogger } from ${JSON.stringify(LOG_MODULE)};
import { registerSecret } from ${JSON.stringify(SECRETS_MODULE)};
${body}`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", file],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return new TextDecoder().decode(out.stderr).split("\n").filter(Boolean);
  } finally {
    await Deno.remove(file);
  }
}

Deno.test("jsonLogger writes every line of a batch, redacted, even when the process exits at once", async () => {
  const lines = await run(`registerSecret("hunter2-secret");
for (let i = 0; i < 3; i++) jsonLogger("delivered", { n: i, note: "pw hunter2-secret" });
Deno.exit(0);`);
  assert.equal(lines.length, 3);
  const events = lines.map((line) => JSON.parse(line));
  assert.deepEqual(events.map((e) => e.n), [0, 1, 2]);
  assert.ok(events.every((e) => e.event === "delivered" && e.level === "info"));
  assert.ok(lines.every((line) => !line.includes("hunter2-secret")));
});

Deno.test("jsonLogger flushes on its own after the turn, and at 64 KiB without waiting", async () => {
  const lines = await run(`jsonLogger("delivery_failed", { alert_id: "a" });
await new Promise((r) => setTimeout(r, 50));
Deno.stderr.writeSync(new TextEncoder().encode("MARK\\n"));
const big = "x".repeat(1000);
for (let i = 0; i < 70; i++) jsonLogger("accepted", { i, big });
Deno.stderr.writeSync(new TextEncoder().encode("MARK2\\n"));
flushLogs();
setInterval(() => {}, 1000); // never exits by itself
setTimeout(() => Deno.exit(0), 100);`);
  assert.equal(JSON.parse(lines[0]!).level, "error");
  assert.equal(lines[1], "MARK");
  // The 64 KiB threshold wrote the first ~64 lines before MARK2; the rest came after it.
  const mark2 = lines.indexOf("MARK2");
  assert.ok(mark2 > 40 && mark2 < 71, `MARK2 at ${mark2}`);
  assert.equal(lines.length, 1 + 1 + 70 + 1);
});

Deno.test("jsonLogger redacts secrets with every character class JSON escapes, before escaping them", async () => {
  // One secret per class: a quote, a backslash, each control character JSON escapes (short form and
  // \u00XX), DEL, non-ASCII letters, an astral emoji, a lone surrogate, U+2028 and a bidi override.
  const secrets = [
    'pa"ss-w0rd',
    "back\\slash-pw",
    "new\nline-pw",
    "tab\tbed-pw",
    "cr\rret-pw",
    "nul\u0000byte-pw",
    "bell\u0007ctl-pw",
    "esc\u001bseq-pw",
    "del\u007fchar-pw",
    "pässwörd-ünï",
    "emoji-🔑-key",
    "lone-\ud800-surrogate",
    "line\u2028sep-pw",
    "bidi\u202eover-pw",
    'all"\\\n\u0001é🔑',
  ];
  const lines = await run(`const secrets = ${JSON.stringify(secrets)};
for (const s of secrets) registerSecret(s);
jsonLogger("delivery_failed", {
  error: secrets.map((s) => "error: " + s).join(" | "),
  nested: { list: secrets, [secrets[0]]: "as a key" },
});
Deno.exit(0);`);
  assert.equal(lines.length, 1);
  const event = JSON.parse(lines[0]!);
  const text = JSON.stringify(event);
  for (const secret of secrets) {
    assert.ok(
      !text.includes(secret),
      `decoded line holds ${JSON.stringify(secret)}`,
    );
    assert.ok(
      !lines[0]!.includes(JSON.stringify(secret).slice(1, -1)),
      `raw line holds the escaped ${JSON.stringify(secret)}`,
    );
  }
  assert.equal(event.nested.list.length, secrets.length);
  assert.ok(event.nested.list.every((v: string) => v === "[redacted]"));
  assert.equal(event.nested["[redacted]"], "as a key");
  assert.match(event.error, /^error: \[redacted\] \| error: \[redacted\]/);
});

Deno.test("jsonLogger writes a flat event exactly as JSON.stringify would, redacted, and falls back for any other", async () => {
  const cases = [
    '{ alert_id: "a-1", detector: "d", token_index: 0, signed: true }',
    '{ z: "pw hunter2-secret", "hunter2-secret": 2, u: undefined, n: NaN, m: -0 }',
    '{ s: "q\\"uo\\\\te\\n\\u2028", url: "http://u:p@h/" }',
    '{ "1": "integer-like keys go first" }',
    '{ ts: "replaces the time", event: "and the event" }',
    "{ nested: { a: [1, 2] } }",
    "{}",
  ];
  const lines = await run(`registerSecret("hunter2-secret");
${cases.map((c) => `jsonLogger("ev_failed", ${c});`).join("\n")}
flushLogs();`);
  assert.equal(lines.length, cases.length);
  for (const [i, line] of lines.entries()) {
    const fields = new Function(`return ${cases[i]}`)();
    const { ts } = JSON.parse(line);
    // What JSON.stringify writes, with the secret and the URL's password replaced where they stand.
    const expected = JSON.parse(
      JSON.stringify({ ts, level: "error", event: "ev_failed", ...fields })
        .replaceAll("hunter2-secret", "[redacted]")
        .replace("u:p@", "u:[redacted]@"),
    );
    assert.deepEqual(JSON.parse(line), expected, line);
    assert.deepEqual(
      Object.keys(JSON.parse(line)),
      Object.keys(expected),
      `key order of ${line}`,
    );
  }
});

Deno.test("jsonLogger redacts event and field names registered as secrets after they were first logged", async () => {
  const lines = await run(
    `jsonLogger("ev_pw-hunter3-key", { "hunter3-key": 1, "hunter3-key-v": "x" });
registerSecret("hunter3-key");
jsonLogger("ev_pw-hunter3-key", { "hunter3-key": 1, "hunter3-key-v": "x" });
flushLogs();`,
  );
  assert.equal(lines.length, 2);
  const [before, after] = lines.map((l) => JSON.parse(l));
  assert.equal(before.event, "ev_pw-hunter3-key");
  assert.equal(before["hunter3-key"], 1);
  assert.equal(after.event, "ev_pw-[redacted]");
  assert.deepEqual(Object.keys(after).slice(3), ["[redacted]", "[redacted]-v"]);
  assert.ok(!lines[1]!.includes("hunter3"), lines[1]!);
});
