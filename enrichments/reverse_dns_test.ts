import assert from "node:assert/strict";
import { startDnsServer } from "../tests/_dns.ts";
import { pluginContext } from "../tests/_plugin.ts";
import reverseDns, { toPtrName } from "./reverse_dns.ts";

const RECORDS = {
  "4.3.2.1.in-addr.arpa": [
    { type: "PTR" as const, value: "one.example.test." },
    {
      type: "PTR" as const,
      value: "alias.example.test",
    },
  ],
  "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa": [
    { type: "PTR" as const, value: "v6.example.test" },
  ],
};

async function lookup(
  ip: string,
  settings: Record<string, unknown>,
  signal?: AbortSignal,
) {
  const params = reverseDns.params!.parse({ ip });
  return await reverseDns.run(params, pluginContext({ settings, signal }));
}

Deno.test("reverse_dns.run() finds the PTR names of an IPv4 address", async () => {
  const server = await startDnsServer(RECORDS);
  try {
    const result = await lookup("1.2.3.4", {
      nameserver: `127.0.0.1:${server.port}`,
    });
    assert.deepEqual(result, {
      ip: "1.2.3.4",
      hostnames: ["one.example.test", "alias.example.test"],
    });
  } finally {
    await server.close();
  }
});

Deno.test("reverse_dns.run() finds the PTR name of an IPv6 address", async () => {
  const queried: string[] = [];
  const server = await startDnsServer(RECORDS, {
    onQuery: (name) => queried.push(name),
  });
  try {
    const result = await lookup("2001:db8::1", {
      nameserver: `127.0.0.1:${server.port}`,
    });
    assert.deepEqual(result, {
      ip: "2001:db8::1",
      hostnames: ["v6.example.test"],
    });
    assert.deepEqual(queried, [
      "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
    ]);
  } finally {
    await server.close();
  }
});

Deno.test("reverse_dns.run() returns no hostnames for NXDOMAIN", async () => {
  const server = await startDnsServer(RECORDS);
  try {
    const result = await lookup("5.6.7.8", {
      nameserver: `127.0.0.1:${server.port}`,
    });
    assert.deepEqual(result, { ip: "5.6.7.8", hostnames: [] });
  } finally {
    await server.close();
  }
});

Deno.test("reverse_dns.run() rejects what is not an IP address", () => {
  for (
    const ip of [
      "example.com",
      "1.2.3",
      "1.2.3.256",
      "1.1.1.1;id",
      "2130706433",
      "::g",
      "",
    ]
  ) {
    const result = reverseDns.params!.safeParse({ ip });
    assert.equal(result.success, false, ip);
    assert.match(
      result.error?.issues[0]?.message ?? "",
      /ip must be an IPv4 or IPv6 address/,
    );
  }
  assert.throws(() => toPtrName("not-an-ip"), {
    name: "TypeError",
    message: "Invalid IP address: not-an-ip",
  });
});

Deno.test("reverse_dns.run() rejects a malformed nameserver setting", async () => {
  await assert.rejects(
    lookup("1.2.3.4", { nameserver: "dns.example:53" }),
    /Invalid nameserver setting "dns\.example:53"/,
  );
  await assert.rejects(
    lookup("1.2.3.4", { nameserver: "127.0.0.1:99999" }),
    /Invalid nameserver setting/,
  );
});

Deno.test("reverse_dns.run() stops when its signal aborts", async () => {
  const controller = new AbortController();
  const server = await startDnsServer(RECORDS, {
    delayMs: 60_000,
    onQuery: () => controller.abort(),
  });
  try {
    await assert.rejects(
      lookup(
        "1.2.3.4",
        { nameserver: `127.0.0.1:${server.port}` },
        controller.signal,
      ),
      { name: "AbortError" },
    );
  } finally {
    await server.close();
  }
});

Deno.test("reverse_dns.run() reports a failing nameserver", async () => {
  const server = await startDnsServer(RECORDS, { truncate: true });
  try {
    await assert.rejects(
      lookup("1.2.3.4", { nameserver: `127.0.0.1:${server.port}` }),
      (err: unknown) =>
        err instanceof Error && err.name === "Error" &&
        /^Reverse DNS lookup for 1\.2\.3\.4 failed: /.test(err.message),
    );
  } finally {
    await server.close();
  }
});
