/**
 * DNS rebinding (issue 16 item 8), and the metadata addresses allowPrivate never opens: `safeFetch` resolves a host once, through a loopback DNS server here,
 * and connects to the address it checked, with the URL's Host header and TLS server name; a second,
 * different answer is never asked for, let alone used.
 */
import assert from "node:assert/strict";
import { safeFetch } from "./safe_fetch.ts";
import { type DnsRecord, lookupA, startDnsServer } from "../../tests/_dns.ts";

/** A resolver for the policy that asks only the test DNS server (never /etc/hosts). */
function resolverAt(port: number) {
  return (host: string) => lookupA(port, host);
}

/** Whether the system resolver (getaddrinfo: /etc/hosts) sends `name` to 127.0.0.1. */
async function systemResolvesToLoopback(name: string): Promise<boolean> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const accepted = listener.accept();
    const conn = await Deno.connect({
      hostname: name,
      port: listener.addr.port,
    })
      .catch(() => undefined);
    if (conn === undefined) return false;
    conn.close();
    (await accepted).close();
    return true;
  } catch {
    return false;
  } finally {
    listener.close();
  }
}

// The machine's own name: a second lookup through the system resolver (what `fetch()` did) lands on
// 127.0.0.1 here, as the attacker's second DNS answer would.
const HOSTNAME = Deno.hostname();
const REBINDABLE = await systemResolvesToLoopback(HOSTNAME);

Deno.test({
  name:
    "safeFetch() connects to the address the check approved: a DNS answer that changes to 127.0.0.1 is never used",
  ignore: !REBINDABLE,
  async fn() {
    const seen: string[] = [];
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: () => {},
    }, (req) => {
      seen.push(req.url);
      return new Response("internal secret");
    });
    let queries = 0;
    // First answer: a public address (TEST-NET-1, routed nowhere). Every later answer: loopback.
    const dns = await startDnsServer({}, {
      answer: (name, asked): DnsRecord[] | undefined =>
        name === HOSTNAME.toLowerCase()
          ? [{ type: "A", value: asked === 0 ? "192.0.2.10" : "127.0.0.1" }]
          : undefined,
      onQuery: (n) => {
        queries++;
        console.log("Q", n);
      },
    });
    try {
      const url = `http://${HOSTNAME}:${server.addr.port}/secret`;
      const outcome = await safeFetch(url, {
        signal: AbortSignal.timeout(2_000),
      }, { resolve: resolverAt(dns.port) }).then(
        async (response) =>
          `answered ${response.status}: ${await response.text()}`,
        (err: unknown) => `failed: ${(err as Error).name}`,
      );
      assert.match(outcome, /^failed/, "the request reached an address");
      assert.deepEqual(seen, [], "the connection went to 127.0.0.1");
      assert.equal(queries, 1, "the host was resolved once");
    } finally {
      await dns.close();
      await server.shutdown();
    }
  },
});

Deno.test("safeFetch() sends a pinned request with the original Host header", async () => {
  const hosts: (string | null)[] = [];
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
  }, (req) => {
    hosts.push(req.headers.get("host"));
    return new Response("ok");
  });
  const dns = await startDnsServer({
    "pinned.test": [{ type: "A", value: "127.0.0.1" }],
  });
  try {
    const response = await safeFetch(
      `http://pinned.test:${server.addr.port}/x?y=1`,
      { signal: AbortSignal.timeout(10_000) },
      { allowPrivate: true, resolve: resolverAt(dns.port) },
    );
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "ok");
    assert.equal(response.url, `http://pinned.test:${server.addr.port}/x?y=1`);
    assert.deepEqual(hosts, [`pinned.test:${server.addr.port}`]);
  } finally {
    await dns.close();
    await server.shutdown();
  }
});

Deno.test("safeFetch() sends a pinned HTTPS request with the original TLS server name", async () => {
  // A raw listener on the checked address reads the ClientHello, whose server_name is in clear.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const hello = (async () => {
    const conn = await listener.accept();
    const buffer = new Uint8Array(8192);
    const n = await conn.read(buffer);
    conn.close();
    return new TextDecoder("latin1").decode(buffer.subarray(0, n ?? 0));
  })();
  const dns = await startDnsServer({
    "tls-name.test": [{ type: "A", value: "127.0.0.1" }],
  });
  try {
    await assert.rejects(
      safeFetch(
        `https://tls-name.test:${listener.addr.port}/`,
        { signal: AbortSignal.timeout(10_000) },
        { allowPrivate: true, resolve: resolverAt(dns.port) },
      ),
    );
    // Bounded: without pinning nothing connects at all.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const text = await Promise.race([
      hello,
      new Promise<string>((r) => timer = setTimeout(() => r(""), 10_000)),
    ]);
    clearTimeout(timer);
    assert.ok(text.includes("tls-name.test"), "SNI is the URL's host");
  } finally {
    listener.close();
    await dns.close();
  }
});

Deno.test("safeFetch() never opens Tencent, EKS Pod Identity or Azure WireServer metadata, even with allowPrivate", async () => {
  for (
    const address of [
      "169.254.0.23",
      "169.254.170.23",
      "168.63.129.16",
      "[fd00:ec2::23]",
      "[::ffff:168.63.129.16]",
    ]
  ) {
    await assert.rejects(
      safeFetch(`http://${address}/`, {}, { allowPrivate: true }),
      /is a cloud metadata address/,
      address,
    );
  }
  // A name that resolves to WireServer is refused too, though the address is public.
  await assert.rejects(
    safeFetch("http://wire.test/", {}, { resolve: () => ["168.63.129.16"] }),
    /wire\.test: 168\.63\.129\.16 is a cloud metadata address/,
  );
});
