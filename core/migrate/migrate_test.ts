/** Tests of the mail_conf.py reader, the condition translation and the migration's output. */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { parseLiteral, parseModule } from "./_literal.ts";
import { pythonToCel } from "./_condition.ts";
import {
  formatSyntaxError,
  migrateMailConf,
  PySyntaxError,
} from "./migrate.ts";
import { compileCondition } from "../config/conditions.ts";

function plain(value: unknown): unknown {
  if (value instanceof Map) {
    return Object.fromEntries([...value].map(([k, v]) => [k, plain(v)]));
  }
  return Array.isArray(value) ? value.map(plain) : value;
}

function syntaxError(source: string): PySyntaxError {
  try {
    parseModule(source);
  } catch (err) {
    if (err instanceof PySyntaxError) return err;
    throw err;
  }
  assert.fail("expected a syntax error");
}

Deno.test("parseLiteral() reads nested tuples, lists, dicts, trailing commas and constants", () => {
  assert.deepEqual(
    plain(
      parseLiteral(
        `(("a", {"b": (1, 2,), 'c': [True, False, None,]},), (), (3,), (4),)`,
      ),
    ),
    [["a", { b: [1, 2], c: [true, false, null] }], [], [3], 4],
  );
  assert.deepEqual(
    plain(parseLiteral(`{1: -2.5, 0x10: 1_000, "e": 1e3, "o": 0o17}`)),
    {
      "1": -2.5,
      "16": 1000,
      e: 1000,
      o: 15,
    },
  );
});

Deno.test("parseLiteral() decodes escapes, raw strings, triple quotes and implicit concatenation", () => {
  assert.equal(
    parseLiteral(String.raw`'a\r\n\t\\\'\"\x41\u00e9\U0001F600\101\q'`),
    "a\r\n\t\\'\"A\u00e9\u{1F600}A\\q",
  );
  assert.equal(parseLiteral(String.raw`r'\d+\n'`), String.raw`\d+\n`);
  assert.equal(parseLiteral(`"""two\nlines"""`), "two\nlines");
  assert.equal(parseLiteral(`("one " 'two '\n  "three")`), "one two three");
  assert.equal(parseLiteral(`u"caf\\u00e9 — 日本語 🚨"`), "café — 日本語 🚨");
});

Deno.test("parseModule() skips comments anywhere and imports, and keeps assignment order", () => {
  const module = parseModule(`# header
import os  # not needed
from x import y
a = [ # after a bracket
  1, # after an item
  # on its own line
  2 # before the close
] # after the close
b = {"k" # between key and colon
  : "v", "#not a comment": 'x#y'}
`);
  assert.deepEqual(module.assignments.map((a) => [a.name, plain(a.value)]), [
    ["a", [1, 2]],
    ["b", { k: "v", "#not a comment": "x#y" }],
  ]);
  assert.deepEqual(module.skipped, [
    "line 2: import os",
    "line 3: from x import y",
  ]);
});

Deno.test("parseModule() points at the place of a missing comma, on one line or across lines", () => {
  const same = syntaxError(
    `d = {\n  "mail_title": "{param3}""enrichment": True,\n}\n`,
  );
  assert.deepEqual(same.at, { line: 2, col: 27 });
  assert.equal(same.hint, "insert ',' here");
  const across = syntaxError(
    `d = {\n  "mail_title": "{param3}"\n  "enrichment": True,\n}\n`,
  );
  assert.deepEqual(across.at, { line: 2, col: 27 });
  assert.equal(across.hint, "insert ',' here");
  const list = syntaxError(`l = [1, 2\n 3]\n`);
  assert.deepEqual(list.at, { line: 1, col: 10 });
  assert.equal(list.hint, "insert ',' here");
});

Deno.test("parseModule() refuses code with a position and a fix", () => {
  const call = syntaxError(`x = {"a": open("/etc/passwd")}`);
  assert.match(call.message, /"open" is a name, not a literal/);
  assert.deepEqual(call.at, { line: 1, col: 11 });
  assert.match(syntaxError(`x = f"{a}"`).message, /f-strings are code/);
  assert.match(syntaxError(`x = "never closed`).message, /unterminated string/);
  assert.match(syntaxError(`x = {"a": 1\n`).message, /never closed/);
  assert.match(syntaxError(`x = "\\u12"`).message, /needs 4 hex digits/);
  assert.match(syntaxError(`print("hi")`).message, /expected "NAME = value"/);
  assert.match(
    syntaxError(`x = {"a": 1, "a": 2}`).message,
    /duplicate key "a"/,
  );
});

Deno.test("formatSyntaxError() is file:line:col: message: fix, then the line and a caret", () => {
  const source = `d = {\n  "mail_title": "{param3}""enrichment": True,\n}\n`;
  const lines = formatSyntaxError("mail_conf.py", source, syntaxError(source));
  assert.match(
    lines[0]!,
    /^mail_conf\.py:2:27: missing ',' .*: insert ',' here$/,
  );
  assert.equal(lines[1], `    "mail_title": "{param3}""enrichment": True,`);
  assert.equal(lines[2]!.indexOf("^"), lines[1]!.indexOf(`"enrichment"`));
});

Deno.test("pythonToCel() translates the common subset and refuses the rest", () => {
  const cases: [string, string | undefined][] = [
    [`document["severity"] == "high"`, `alert.severity == "high"`],
    [`document.get("user")`, `has(alert.user)`],
    [`not document.get("user")`, `!has(alert.user)`],
    [`document.get("port") == 22`, `has(alert.port) && alert.port == 22`],
    [`document.get("port") != 22`, `!has(alert.port) || alert.port != 22`],
    [
      `document["ip_src_addr"].startswith("10.") and document["count"] >= 5`,
      `alert.ip_src_addr.startsWith("10.") && alert.count >= 5`,
    ],
    [
      `document['ip'].startswith(('10.', '192.168.')) or not document["internal"] == True`,
      `(alert.ip.startsWith("10.") || alert.ip.startsWith("192.168.")) || !alert.internal == true`,
    ],
    [`document["country"] in ["RU", "KP"]`, `alert.country in ["RU", "KP"]`],
    [`document["country"] not in ("RU",)`, `!(alert.country in ["RU"])`],
    [`document["a"]["b-c"] is None`, `alert.a["b-c"] == null`],
    [`document.get("x") is not None`, `has(alert.x)`],
    [`document["name"].endswith(".exe")`, `alert.name.endsWith(".exe")`],
    [`document["msg"].lower() == "x"`, undefined],
    [`document["x"]`, undefined],
    [`"a" in document["x"]`, undefined],
    [`len(document["x"]) > 2`, undefined],
    [`1 < document["x"] < 5`, undefined],
    [`document.get("x", "d") == "d"`, undefined],
    [`os.system("id")`, undefined],
  ];
  for (const [python, cel] of cases) {
    assert.equal(pythonToCel(python), cel, python);
    if (cel) compileCondition(cel);
  }
});

Deno.test("pythonToCel() output matches like Python did on sample alerts", () => {
  const cel = pythonToCel(
    `document.get("port") == 22 and document["ip"].startswith("10.")`,
  )!;
  const condition = compileCondition(cel);
  assert.equal(condition.matches({ port: 22, ip: "10.1.2.3" }), true);
  assert.equal(condition.matches({ port: 23, ip: "10.1.2.3" }), false);
  assert.equal(condition.matches({ ip: "10.1.2.3" }), false);
});

const CONDITIONAL = `devices = {
  "waf": {
    "subject": "WAF {rule}",
    "enrichment_conditional": True,
    "enrichments": {
      'document["severity"] == "high"': [{"e_name": "R", "e_func": "reverse_dns_lookup", "e_key": "ip", "enabled": True}],
      'document["msg"].lower() == "x"': [],
    },
    "actions": {"reply": [("Block", {"color": "red", "actions": [("http_request", {"url": "https://fw/", "token": "t0k3n-literal", "enabled": True})]})]},
  },
}
security_key = "0123456789abcdef"
extra = 1
`;

Deno.test("migrateMailConf() writes CEL or a TODO marker, env references and notes", () => {
  const migration = migrateMailConf(CONDITIONAL, { file: "mail_conf.py" });
  assert.deepEqual(migration.files.map((f) => f.path), [
    "blitz.yaml",
    "detectors/waf.yaml",
  ]);
  const global = parse(migration.files[0]!.text);
  assert.deepEqual(global.action_keys, [{
    id: "k1",
    secret: "${env:BLITZ_ACTION_KEY}",
  }]);
  assert.equal(global.security_key, undefined);
  assert.match(
    migration.files[0]!.text,
    /mailto: buttons; those old links are not honoured/,
  );
  const waf = parse(migration.files[1]!.text).waf;
  assert.deepEqual(Object.keys(waf.enrichments), [
    `alert.severity == "high"`,
    `TODO(migrate): document["msg"].lower() == "x"`,
  ]);
  assert.equal(
    waf.actions.reply[0][1].actions[0][1].token,
    "${env:WAF_HTTP_REQUEST_TOKEN}",
  );
  assert.doesNotMatch(migration.files[1]!.text, /t0k3n-literal/);
  assert.deepEqual(migration.env.map((v) => v.name), [
    "BLITZ_ACTION_KEY",
    "WAF_HTTP_REQUEST_TOKEN",
  ]);
  assert.deepEqual(migration.todos, [{
    file: "detectors/waf.yaml",
    detector: "waf",
    condition: `document["msg"].lower() == "x"`,
  }]);
  assert.ok(
    migration.notes.some((n) => n.includes(`"extra" has no Blitz equivalent`)),
  );
  assert.throws(
    () => compileCondition(Object.keys(waf.enrichments)[1]!),
    /rewrite "document\[\\"msg\\"\]\.lower\(\) == \\"x\\"" in CEL/,
  );
});

Deno.test("migrateMailConf() is deterministic: the same input gives byte-identical files", () => {
  const a = migrateMailConf(CONDITIONAL, { file: "mail_conf.py" });
  const b = migrateMailConf(CONDITIONAL, { file: "mail_conf.py" });
  assert.deepEqual(a, b);
});
