import assert from "node:assert/strict";
import {
  BlockedRequestError,
  buildUrl,
  fillText,
  isMetadataAddress,
  isPrivateAddress,
  readTextCapped,
  safeFetch,
} from "./safe_fetch.ts";

interface SeenRequest {
  path: string;
  host: string;
  headers: Headers;
}

/** A loopback server; `routes` maps a path to a response factory, anything else answers "ok". */
async function withServer(
  routes: Record<string, (base: string) => Response>,
  test: (base: string, seen: SeenRequest[]) => Promise<void>,
): Promise<void> {
  const seen: SeenRequest[] = [];
  let base = "";
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => {
      const url = new URL(req.url);
      seen.push({
        path: url.pathname + url.search,
        host: req.headers.get("host") ?? "",
        headers: req.headers,
      });
      return routes[url.pathname]?.(base) ?? new Response("ok");
    },
  );
  base = `http://127.0.0.1:${server.addr.port}`;
  try {
    await test(base, seen);
  } finally {
    await server.shutdown();
  }
}

function redirect(location: string, status = 302): Response {
  return new Response(null, { status, headers: { location } });
}

Deno.test("isPrivateAddress() flags loopback, private, link-local, metadata and odd IPv4 forms", () => {
  for (
    const ip of [
      "127.0.0.1",
      "169.254.169.254",
      "2130706433",
      "0x7f000001",
      "017700000001",
      "127.1",
      "0x7f.1",
      "[::1]",
      "::1",
      "[::ffff:127.0.0.1]",
      "::ffff:10.0.0.1",
      "64:ff9b::a9fe:a9fe",
      "2002:c0a8:0101::1",
      "0.0.0.0",
      "::",
      "10.1.2.3",
      "172.16.0.1",
      "172.31.255.255",
      "192.168.1.1",
      "100.64.0.1",
      "100.127.255.255",
      "fc00::1",
      "fd00:ec2::254",
      "fe80::1",
      "224.0.0.1",
      "ff02::1",
      "255.255.255.255",
    ]
  ) {
    assert.equal(isPrivateAddress(ip), true, ip);
  }
});

Deno.test("isPrivateAddress() passes public addresses", () => {
  for (
    const ip of [
      "1.1.1.1",
      "8.8.8.8",
      "93.184.216.34",
      "172.32.0.1",
      "100.128.0.1",
      "2606:4700:4700::1111",
      "::ffff:1.1.1.1",
    ]
  ) {
    assert.equal(isPrivateAddress(ip), false, ip);
  }
});

Deno.test("isPrivateAddress() rejects what is not an IP literal", () => {
  for (
    const input of [
      "example.com",
      "1.2.3.4@10.0.0.1",
      "999.1.1.1",
      "1.1.1.1;id",
      "",
    ]
  ) {
    assert.throws(() => isPrivateAddress(input), TypeError, input);
  }
});

Deno.test("isMetadataAddress() knows metadata addresses in every form", () => {
  for (
    const ip of [
      "169.254.169.254",
      "2852039166",
      "::ffff:169.254.169.254",
      "fd00:ec2::254",
      "[FD00:EC2:0::254]",
    ]
  ) {
    assert.equal(isMetadataAddress(ip), true, ip);
  }
  assert.equal(isMetadataAddress("169.254.1.1"), false);
});

Deno.test("new URL() normalises odd IPv4 hosts that safeFetch() then checks", () => {
  assert.equal(new URL("http://2130706433/").hostname, "127.0.0.1");
  assert.equal(new URL("http://0x7f.1/").hostname, "127.0.0.1");
  assert.equal(new URL("http://017700000001/").hostname, "127.0.0.1");
  assert.equal(
    new URL("http://[::ffff:127.0.0.1]/").hostname,
    "[::ffff:7f00:1]",
  );
});

Deno.test("safeFetch() blocks private and metadata URLs before connecting", async () => {
  for (
    const url of [
      "http://127.0.0.1/",
      "http://169.254.169.254/latest/meta-data/",
      "http://2130706433/",
      "http://[::1]/",
      "http://0x7f.1/",
      "http://[::ffff:127.0.0.1]/",
      "http://[fd00:ec2::254]/",
      "http://localhost/",
      "http://app.localhost/",
    ]
  ) {
    await assert.rejects(
      safeFetch(url, {}, {
        resolve: () => assert.fail("a literal or localhost needs no lookup"),
      }),
      BlockedRequestError,
      url,
    );
  }
});

Deno.test("safeFetch() blocks a hostname that resolves to a private address", async () => {
  const asked: string[] = [];
  const resolve = (host: string) => {
    asked.push(host);
    return host === "mixed.test"
      ? ["93.184.216.34", "10.0.0.5"]
      : ["127.0.0.1"];
  };
  await assert.rejects(
    safeFetch("http://internal.test/x", {}, { resolve }),
    /internal\.test: 127\.0\.0\.1 is a loopback/,
  );
  await assert.rejects(
    safeFetch("https://mixed.test/", {}, { resolve }),
    BlockedRequestError,
  );
  await assert.rejects(
    safeFetch("https://empty.test/", {}, { resolve: () => [] }),
    /has no addresses/,
  );
  assert.deepEqual(asked, ["internal.test", "mixed.test"]);
});

Deno.test("safeFetch() allows only http and https", async () => {
  for (
    const url of [
      "ftp://example.com/file",
      "file:///etc/passwd",
      "data:text/plain,hi",
    ]
  ) {
    await assert.rejects(
      safeFetch(url, {}, { allowPrivate: true }),
      /scheme/,
      url,
    );
  }
});

Deno.test("safeFetch() fetches loopback with allowPrivate and enforces allowHosts", async () => {
  await withServer({}, async (base, seen) => {
    const port = new URL(base).port;
    const response = await safeFetch(`${base}/a?b=1`, {}, {
      allowPrivate: true,
      allowHosts: ["127.0.0.1"],
    });
    assert.equal(await response.text(), "ok");
    assert.deepEqual(seen.map((r) => r.path), ["/a?b=1"]);

    await assert.rejects(
      safeFetch(`http://localhost:${port}/`, {}, {
        allowPrivate: true,
        allowHosts: ["127.0.0.1"],
      }),
      /localhost: host is not in the allowlist/,
    );
    assert.equal(seen.length, 1);
  });
});

Deno.test("safeFetch() matches wildcard allowHosts on subdomains only", async () => {
  const policy = {
    allowHosts: ["*.example.test"],
    resolve: () => ["127.0.0.1"],
  };
  // Passing the allowlist reaches the address check, which then blocks the loopback address.
  await assert.rejects(
    safeFetch("http://api.example.test/", {}, policy),
    /api\.example\.test: 127\.0\.0\.1 is a loopback/,
  );
  await assert.rejects(
    safeFetch("http://a.b.example.test/", {}, policy),
    /127\.0\.0\.1 is a loopback/,
  );
  await assert.rejects(
    safeFetch("http://example.test/", {}, policy),
    /example\.test: host is not in the allowlist/,
  );
  await assert.rejects(
    safeFetch("http://badexample.test/", {}, policy),
    /not in the allowlist/,
  );
});

Deno.test("safeFetch() follows an allowed redirect and re-checks it", async () => {
  await withServer({ "/start": () => redirect("/end") }, async (base, seen) => {
    const response = await safeFetch(`${base}/start`, {}, {
      allowPrivate: true,
    });
    assert.equal(response.status, 200);
    assert.equal(response.url, `${base}/end`);
    assert.equal(await response.text(), "ok");
    assert.deepEqual(seen.map((r) => r.path), ["/start", "/end"]);
  });
});

Deno.test("safeFetch() blocks a redirect to the metadata address even with allowPrivate", async () => {
  await withServer({
    "/r": () => redirect("http://169.254.169.254/latest/meta-data/"),
  }, async (base, seen) => {
    await assert.rejects(
      safeFetch(`${base}/r`, {}, { allowPrivate: true }),
      (err: unknown) =>
        err instanceof BlockedRequestError &&
        /169\.254\.169\.254 is a cloud metadata/.test(err.message),
    );
    assert.deepEqual(seen.map((r) => r.path), ["/r"]);
  });
});

Deno.test("safeFetch() blocks a redirect to a host outside allowHosts", async () => {
  await withServer({
    "/r": (base) => redirect(`http://localhost:${new URL(base).port}/in`),
  }, async (base, seen) => {
    await assert.rejects(
      safeFetch(`${base}/r`, {}, {
        allowPrivate: true,
        allowHosts: ["127.0.0.1"],
      }),
      /localhost: host is not in the allowlist/,
    );
    assert.equal(seen.length, 1);
  });
});

Deno.test("safeFetch() stops after maxRedirects", async () => {
  await withServer({ "/loop": () => redirect("/loop") }, async (base, seen) => {
    await assert.rejects(
      safeFetch(`${base}/loop`, {}, { allowPrivate: true, maxRedirects: 2 }),
      /more than 2 redirects/,
    );
    assert.equal(seen.length, 3);
  });
});

Deno.test("safeFetch() drops credentials on a cross-origin redirect", async () => {
  await withServer({
    "/r": (base) =>
      redirect(`http://localhost:${new URL(base).port}/landed`, 307),
  }, async (base, seen) => {
    const response = await safeFetch(`${base}/r`, {
      method: "POST",
      headers: {
        authorization: "Bearer secret",
        "x-api-key": "secret",
        "content-type": "application/json",
      },
      body: '{"a":1}',
    }, { allowPrivate: true, resolve: () => ["127.0.0.1"] });
    await response.body?.cancel();
    const [first, second] = seen;
    assert.equal(first?.headers.get("x-api-key"), "secret");
    assert.equal(second?.path, "/landed");
    assert.equal(second?.host, `localhost:${new URL(base).port}`);
    assert.equal(second?.headers.get("authorization"), null);
    assert.equal(second?.headers.get("x-api-key"), null);
    assert.equal(second?.headers.get("content-type"), "application/json");
  });
});

Deno.test("safeFetch() keeps query strings out of network errors", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  await assert.rejects(
    safeFetch(`http://127.0.0.1:${port}/x?key=SECRET`, {}, {
      allowPrivate: true,
    }),
    (err: unknown) =>
      err instanceof TypeError && !String(err.message).includes("SECRET") &&
      !("cause" in err && err.cause),
  );
});

Deno.test("safeFetch() honours an aborted signal", async () => {
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(
    safeFetch("http://example.test/", { signal: controller.signal }, {
      resolve: () => assert.fail("no lookup after abort"),
    }),
    { name: "AbortError" },
  );
});

Deno.test("buildUrl() encodes alert values in path and query", () => {
  const url = buildUrl("https://api.example/v1/ip/{ip}?q={q}&src={source.ip}", {
    ip: "1.1.1.1;id",
    q: "a b&c=d#e",
    source: { ip: "10.0.0.1" },
  });
  assert.equal(
    url.href,
    "https://api.example/v1/ip/1.1.1.1%3Bid?q=a%20b%26c%3Dd%23e&src=10.0.0.1",
  );
});

Deno.test("buildUrl() prefers a flat dotted key and inserts values once", () => {
  const url = buildUrl("https://api.example/{source.ip}/{a}", {
    "source.ip": "flat",
    a: "{source.ip}/../x",
  });
  assert.equal(url.pathname, "/flat/%7Bsource.ip%7D%2F..%2Fx");
});

Deno.test("buildUrl() refuses placeholders in the scheme, host or port", () => {
  for (
    const template of [
      "http://{ip}/x",
      "https://{host}.example.com/",
      "https://api.example:{port}/",
      "{scheme}://api.example/",
      "https://user:{pw}@api.example/",
      "https://api.example{ip}",
    ]
  ) {
    assert.throws(
      () =>
        buildUrl(template, {
          ip: "1.1.1.1",
          host: "a",
          port: 1,
          scheme: "http",
          pw: "x",
        }),
      TypeError,
      template,
    );
  }
  assert.equal(
    buildUrl("https://api.example?q={ip}", { ip: "1.1.1.1" }).search,
    "?q=1.1.1.1",
  );
});

Deno.test("buildUrl() throws a TypeError naming a missing or non-scalar key", () => {
  assert.throws(() => buildUrl("https://api.example/{ip}", {}), {
    name: "TypeError",
    message: /\{ip\}/,
  });
  assert.throws(
    () => buildUrl("https://api.example/{a.b}", { a: {} }),
    /\{a\.b\}/,
  );
  assert.throws(
    () => buildUrl("https://api.example/{o}", { o: { x: 1 } }),
    /\{o\} must be a string/,
  );
  assert.equal(
    buildUrl("https://api.example/{n}/{t}", { n: 5, t: true }).pathname,
    "/5/true",
  );
});

Deno.test("buildUrl() refuses values that form dot segments", () => {
  assert.throws(
    () => buildUrl("https://api.example/v1/{id}/x", { id: ".." }),
    TypeError,
  );
  assert.throws(
    () => buildUrl("https://api.example/v1/{id}/x", { id: "." }),
    TypeError,
  );
  assert.equal(
    buildUrl("https://api.example/v1/{id}", { id: "..." }).pathname,
    "/v1/...",
  );
  assert.equal(
    buildUrl("https://api.example/v1/{id}", { id: "../admin" }).pathname,
    "/v1/..%2Fadmin",
  );
});

Deno.test("fillText() inserts raw values once, from flat or dotted keys", () => {
  assert.equal(
    fillText('ip={ip} "{source.ip}" {x}', {
      ip: "1.1.1.1;id",
      source: { ip: "<10.0.0.1>" },
      x: "{ip}",
    }),
    'ip=1.1.1.1;id "<10.0.0.1>" {ip}',
  );
  assert.throws(() => fillText("{nope}", {}), {
    name: "TypeError",
    message: "Missing value for placeholder {nope}",
  });
});

Deno.test("readTextCapped() reads up to the cap, refuses a larger Content-Length unread and stops a stream past it", async () => {
  const options = { maxBytes: 8, host: "api.example" };
  assert.equal(await readTextCapped(new Response("héllo"), options), "héllo");
  assert.equal(await readTextCapped(new Response(null), options), "");
  let pulled = 0;
  const endless = () =>
    new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new TextEncoder().encode("12345"));
      },
    });
  await assert.rejects(
    readTextCapped(
      new Response(endless(), { headers: { "content-length": "9" } }),
      options,
    ),
    {
      name: "RangeError",
      message: "Response from api.example exceeds 8 bytes",
    },
  );
  pulled = 0;
  await assert.rejects(
    readTextCapped(new Response(endless()), {
      ...options,
      limit: "max_bytes (8)",
    }),
    {
      name: "RangeError",
      message: "Response from api.example exceeds max_bytes (8)",
    },
  );
  assert.ok(pulled <= 3, `stopped reading after the cap (${pulled} pulls)`);
});
