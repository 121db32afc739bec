import assert from "node:assert/strict";
import { rateKey, TrustedProxies } from "./client.ts";

Deno.test("rateKey() keys IPv6 clients by /64 and IPv4 (mapped or not) exactly", () => {
  assert.equal(rateKey("2001:db8:1:2::1"), "2001:db8:1:2::/64");
  assert.equal(
    rateKey("2001:db8:1:2:ffff:ffff:ffff:ffff"),
    "2001:db8:1:2::/64",
  );
  assert.equal(rateKey("[2001:db8:1:3::1]"), "2001:db8:1:3::/64");
  assert.equal(rateKey("203.0.113.7"), "203.0.113.7");
  assert.equal(rateKey("::ffff:203.0.113.7"), "203.0.113.7");
  assert.equal(rateKey(undefined), "unknown");
  const keys = new Set(
    Array.from(
      { length: 1000 },
      (_, i) => rateKey(`2001:db8:0:1::${i.toString(16)}`),
    ),
  );
  assert.equal(keys.size, 1, "1,000 addresses of one /64 are one client");
});

Deno.test("TrustedProxies believes X-Forwarded-For only from a trusted proxy, read from the right", () => {
  const proxies = new TrustedProxies(["10.0.0.0/8", "2001:db8:ffff::/48"]);
  const xff = (value: string) => new Headers({ "x-forwarded-for": value });
  assert.equal(
    proxies.clientOf("203.0.113.9", xff("198.51.100.1")),
    "203.0.113.9",
  );
  assert.equal(
    proxies.clientOf("10.1.2.3", xff("198.51.100.1")),
    "198.51.100.1",
  );
  // A client's own forged entries sit left of what the proxy appended: the rightmost untrusted wins.
  assert.equal(
    proxies.clientOf("10.1.2.3", xff("127.0.0.1, 198.51.100.1, 10.9.9.9")),
    "198.51.100.1",
  );
  assert.equal(
    proxies.clientOf("2001:db8:ffff::1", xff("2001:DB8::7")),
    "2001:db8::7",
  );
  assert.equal(
    proxies.clientOf("::ffff:10.0.0.1", xff("198.51.100.2")),
    "198.51.100.2",
  );
  assert.equal(proxies.clientOf("10.1.2.3", new Headers()), "10.1.2.3");
  assert.equal(
    proxies.clientOf("10.1.2.3", xff("junk, 198.51.100.1")),
    "198.51.100.1",
  );
  assert.equal(
    proxies.clientOf("10.1.2.3", xff("198.51.100.1, junk")),
    "10.1.2.3",
  );
  assert.equal(
    new TrustedProxies().clientOf("10.1.2.3", xff("1.1.1.1")),
    "10.1.2.3",
  );
  assert.equal(proxies.trusts("10.255.0.1"), true);
  assert.equal(proxies.trusts("11.0.0.1"), false);
  assert.equal(proxies.trusts(undefined), false);
});
