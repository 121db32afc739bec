/** The one IP parser: strict grammar, canonical text, PTR names, CIDR blocks. */
import assert from "node:assert/strict";
import { formatIp, isIpLiteral, parseIp, ptrName, rangeToCidrs } from "./ip.ts";

Deno.test("parseIp() reads IPv4 and IPv6 into value and bytes", () => {
  assert.deepEqual(parseIp("192.0.2.10"), {
    version: 4,
    value: 0xc000020an,
    bytes: Uint8Array.from([192, 0, 2, 10]),
  });
  const v6 = parseIp("2001:db8::1");
  assert.equal(v6.version, 6);
  assert.equal(v6.value, 0x20010db8000000000000000000000001n);
  assert.deepEqual(
    [...v6.bytes],
    [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
  );
  assert.equal(parseIp("[::1]").value, 1n);
  assert.equal(parseIp("::").value, 0n);
  assert.equal(parseIp("::ffff:1.2.3.4").value, 0xffff01020304n);
  assert.equal(
    parseIp("64:ff9b::192.0.2.1").value,
    parseIp("64:ff9b::c000:201").value,
  );
  assert.equal(parseIp("FE80::1").value, parseIp("fe80::1").value);
  assert.equal(
    parseIp("1:2:3:4:5:6:7:8").value,
    0x00010002000300040005000600070008n,
  );
});

Deno.test("parseIp() refuses what is not strict IP text", () => {
  for (
    const input of [
      "",
      "example.com",
      "1.2.3",
      "1.2.3.256",
      "010.0.0.1",
      "1.1.1.1;id",
      "2130706433",
      "0x7f.0.0.1",
      "::g",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7::8",
      "12345::",
      "fe80::1%eth0",
      "::ffff:1.2.3.04",
      "[1.2.3.4]",
      " 1.2.3.4",
    ]
  ) {
    assert.throws(() => parseIp(input), TypeError, JSON.stringify(input));
    assert.equal(isIpLiteral(input), false, JSON.stringify(input));
  }
  assert.equal(isIpLiteral("::1"), true);
  assert.equal(isIpLiteral("198.51.100.7"), true);
});

Deno.test("formatIp() writes dotted decimal and RFC 5952 IPv6", () => {
  const canon = (ip: string) => formatIp(parseIp(ip));
  assert.equal(canon("192.0.2.1"), "192.0.2.1");
  assert.equal(canon("2001:0DB8:0000:0000:0000:0000:0000:0001"), "2001:db8::1");
  assert.equal(canon("fd00:ec2:0:0:0:0:0:254"), "fd00:ec2::254");
  assert.equal(canon("1:0:2:0:0:3:0:0"), "1:0:2::3:0:0");
  assert.equal(canon("1:0:2:3:4:5:6:7"), "1:0:2:3:4:5:6:7");
  assert.equal(canon("::"), "::");
  assert.equal(canon("::ffff:1.2.3.4"), "::ffff:102:304");
});

Deno.test("ptrName() builds in-addr.arpa and nibble ip6.arpa names", () => {
  assert.equal(ptrName("192.0.2.10"), "10.2.0.192.in-addr.arpa");
  assert.equal(
    ptrName("::ffff:1.2.3.4"),
    "4.0.3.0.2.0.1.0.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
  );
  assert.equal(ptrName("FE80::1").endsWith(".0.8.e.f.ip6.arpa"), true);
  assert.throws(() => ptrName("not-an-ip"), TypeError);
});

Deno.test("rangeToCidrs() covers a range with the fewest blocks", () => {
  assert.deepEqual(rangeToCidrs("10.0.0.0", "10.0.0.255"), ["10.0.0.0/24"]);
  assert.deepEqual(rangeToCidrs("192.0.2.1", "192.0.2.6"), [
    "192.0.2.1/32",
    "192.0.2.2/31",
    "192.0.2.4/31",
    "192.0.2.6/32",
  ]);
  assert.deepEqual(
    rangeToCidrs("2001:67c:2e8::", "2001:67c:2e8:ffff:ffff:ffff:ffff:ffff"),
    ["2001:67c:2e8::/48"],
  );
  assert.deepEqual(rangeToCidrs("0.0.0.0", "255.255.255.255"), ["0.0.0.0/0"]);
  assert.deepEqual(rangeToCidrs("10.0.0.9", "10.0.0.1"), []);
  assert.deepEqual(rangeToCidrs("10.0.0.1", "::1"), []);
});
