import assert from "node:assert/strict";
import { fill, fillDeep, lookup } from "./template.ts";
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

Deno.test("fill() stringifies numbers, booleans, objects and arrays", () => {
  assert.equal(fill("{count}/{flag}", alert), "312/false");
  assert.equal(fill("{source.geo}", alert), '{"country":"NL"}');
  assert.equal(fill("{tags}", alert), '["ssh","brute-force"]');
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
