import assert from "node:assert/strict";
import { fill, fillDeep, lookup, placeholders } from "./template.ts";
import { parseJson } from "./json.ts";
import { headerSafe } from "./headers.ts";

const alert = {
  ip_src_addr: "192.0.2.10",
  source: { ip: "198.51.100.7", geo: { country: "NL" } },
  "dotted.key": "top-level wins",
  dotted: { key: "nested" },
  count: 312,
  flag: false,
  nothing: null,
  tags: ["ssh", "brute-force"],
  user: { name: "alice", groups: ["admins"] },
};

Deno.test("fill() replaces top-level keys and dotted paths", () => {
  assert.equal(
    fill("Email Alert : {ip_src_addr} : {source.ip}", alert),
    "Email Alert : 192.0.2.10 : 198.51.100.7",
  );
  assert.equal(fill("{source.geo.country}", alert), "NL");
  assert.equal(
    fill("{tags.1}", alert),
    "brute-force",
    "array elements by index",
  );
});

Deno.test("fill() prefers a top-level key that contains a dot over the dotted path", () => {
  assert.equal(fill("{dotted.key}", alert), "top-level wins");
});

Deno.test("fill() leaves a missing key literally as {key}", () => {
  assert.equal(
    fill("{missing} and {source.missing} and {ip_src_addr.deeper}", alert),
    "{missing} and {source.missing} and {ip_src_addr.deeper}",
  );
  assert.equal(
    fill("{__proto__} {constructor} {toString}", alert),
    "{__proto__} {constructor} {toString}",
    "inherited properties are not keys",
  );
});

Deno.test("fill() is single-pass: a substituted value containing a placeholder stays literal", () => {
  // SECURITY.md 16
  const data = { a: "{b}", b: "SECRET-B", c: "{{b}}", d: "${env:HOME}" };
  assert.equal(fill("{a}", data), "{b}");
  assert.equal(fill("{c}", data), "{{b}}");
  assert.equal(fill("{a}{b}", data), "{b}SECRET-B");
  assert.equal(fill("{d}", data), "${env:HOME}");
});

Deno.test("fill() stringifies numbers and booleans, joins arrays readably and writes objects as JSON", () => {
  assert.equal(fill("{count}/{flag}", alert), "312/false");
  assert.equal(fill("{source.geo}", alert), '{"country":"NL"}');
  assert.equal(fill("{tags}", alert), "ssh, brute-force");
  assert.equal(
    fill("{x}", { x: [1, "b", { c: 2 }, null] }),
    '1, b, {"c":2}, ',
  );
  assert.equal(fill("[{nothing}]", alert), "[]", "null becomes empty text");
});

Deno.test("fill() ignores text in braces that is not a key", () => {
  assert.equal(
    fill("{ spaced } {1abc} {} {a b}", { a: "x" }),
    "{ spaced } {1abc} {} {a b}",
  );
});

Deno.test("fillDeep() fills every string inside objects and arrays, leaving other values and keys as they are", () => {
  const config = {
    summary: "device1 - {ip_src_addr}",
    fields: { customfield: "{source.ip}", n: 7, on: true, none: null },
    list: ["{user.name}", 1, ["{count}"]],
    "{ip_src_addr}": "key stays",
  };
  assert.deepEqual(fillDeep(config, alert), {
    summary: "device1 - 192.0.2.10",
    fields: { customfield: "198.51.100.7", n: 7, on: true, none: null },
    list: ["alice", 1, ["312"]],
    "{ip_src_addr}": "key stays",
  });
  assert.equal(
    config.summary,
    "device1 - {ip_src_addr}",
    "the input is not mutated",
  );
});

Deno.test("lookup() returns undefined for absent paths and the value otherwise", () => {
  assert.equal(lookup(alert, "user.name"), "alice");
  assert.deepEqual(lookup(alert, "user.groups"), ["admins"]);
  assert.equal(lookup(alert, "nothing"), null);
  assert.equal(lookup(alert, "nothing.below"), undefined);
  assert.equal(lookup(alert, "count.toFixed"), undefined);
});

Deno.test("headerSafe() removes CR, LF and other control characters so a header stays one line", () => {
  // SECURITY.md 17
  assert.equal(headerSafe("a\r\nBcc: x@evil.test"), "a Bcc: x@evil.test");
  assert.equal(
    headerSafe("x\u0000y\u007fz\u0085w\u2028v\u2029u\tt"),
    "x y z w v u t",
  );
  assert.equal(headerSafe("  lots \r\n\r\n  of   space  "), "lots of space");
  assert.doesNotMatch(
    headerSafe(fill("Alert {s}", { s: "ok\r\nBcc: evil@evil.test\r\n" })),
    /[\r\n]/,
  );
});

const falco = parseJson(`{
  "output": "Shell spawned",
  "@timestamp": "2023-05-25T13:44:05.478Z",
  "output_fields": {
    "proc.cmdline": "bash -i",
    "proc.name": "bash",
    "k8s.pod.name": "web-7d4b9",
    "evt.time": 1685022245478445995,
    "container.id": "c0ffee"
  },
  "proc": { "cmdline": "not this one" },
  "networkInterfaces": [{ "privateIpAddress": "10.0.0.8" }],
  "a": { "b.c": { "d": "long key, then d" }, "b": { "c": { "e": "short keys" } } }
}`) as Record<string, unknown>;

Deno.test("fill() resolves dotted paths greedily against keys that contain dots (Falco output_fields)", () => {
  assert.equal(
    fill("{output_fields.proc.cmdline} in {output_fields.k8s.pod.name}", falco),
    "bash -i in web-7d4b9",
  );
  assert.equal(fill("{proc.cmdline}", falco), "not this one");
  assert.equal(fill("{a.b.c.d}", falco), "long key, then d");
  assert.equal(
    fill("{a.b.c.e}", falco),
    "short keys",
    "a longer key that leads nowhere falls back to shorter keys",
  );
});

Deno.test("fill() takes bracket keys, @timestamp, array indexes and big integers exactly", () => {
  assert.equal(fill(`{output_fields["k8s.pod.name"]}`, falco), "web-7d4b9");
  assert.equal(fill(`{output_fields['proc.name']}`, falco), "bash");
  assert.equal(fill("{@timestamp}", falco), "2023-05-25T13:44:05.478Z");
  assert.equal(
    fill("{networkInterfaces.0.privateIpAddress}", falco),
    "10.0.0.8",
  );
  assert.equal(
    fill("{networkInterfaces[0].privateIpAddress}", falco),
    "10.0.0.8",
  );
  assert.equal(fill("{output_fields.evt.time}", falco), "1685022245478445995");
  assert.equal(
    lookup(falco, `output_fields["evt.time"]`),
    1685022245478445995n,
  );
});

Deno.test("fill() uses the default after | for a missing, null or empty value", () => {
  const data = { ip: "192.0.2.1", none: null, empty: "" };
  assert.equal(
    fill("{src_ip|unknown} {ip|unknown}", data),
    "unknown 192.0.2.1",
  );
  assert.equal(
    fill("[{none|-}] [{empty|n/a}] [{gone|}]", data),
    "[-] [n/a] []",
  );
});

Deno.test("fill() reports each unfilled placeholder to options.missing", () => {
  const missing: string[] = [];
  assert.equal(
    fill("{a} {src_ip} {b.c} {src_ip|x}", { a: 1 }, { missing }),
    "1 {src_ip} {b.c} x",
  );
  assert.deepEqual(missing, ["{src_ip}", "{b.c}"]);
  assert.deepEqual(
    placeholders(`{a} {b["c.d"]|z} {"json":1}`).map((p) => p.path),
    ["a", `b["c.d"]`],
  );
});

Deno.test("fillDeep() with typed keeps a whole-string placeholder's type, and text elsewhere", () => {
  const data = {
    alert: { signature_id: 2018358, blocked: true, ips: ["a", "b"] },
    flow_id: 1234567890123456789n,
  };
  const body = {
    sid: "{alert.signature_id}",
    note: "sid {alert.signature_id}",
    blocked: "{alert.blocked}",
    ips: "{alert.ips}",
    flow: "{flow_id}",
    gone: "{nope}",
    dflt: "{nope|7}",
  };
  assert.deepEqual(fillDeep(body, data, { typed: true }), {
    sid: 2018358,
    note: "sid 2018358",
    blocked: true,
    ips: ["a", "b"],
    flow: 1234567890123456789n,
    gone: "{nope}",
    dflt: "7",
  });
  assert.equal(fillDeep(body, data).sid, "2018358", "untyped: text");
});
