import assert from "node:assert/strict";
import { BlockedRequestError } from "../core/safe_fetch/safe_fetch.ts";
import { pluginContext } from "../tests/_plugin.ts";
import httpApi from "./http_api.ts";

interface SeenRequest {
  method: string;
  path: string;
  headers: Headers;
  body: string;
}

type Handler = (req: Request) => Response | Promise<Response>;

/** Runs `test` against a loopback server whose requests are recorded in `seen`. */
async function withServer(
  handler: Handler,
  test: (base: string, seen: SeenRequest[]) => Promise<void>,
): Promise<void> {
  const seen: SeenRequest[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      const url = new URL(req.url);
      const entry = {
        method: req.method,
        path: url.pathname + url.search,
        headers: req.headers,
        body: "",
      };
      seen.push(entry);
      if (req.method === "POST") entry.body = await req.text();
      return await handler(req);
    },
  );
  try {
    await test(`http://127.0.0.1:${server.addr.port}`, seen);
  } finally {
    await server.shutdown();
  }
}

function call(
  args: Record<string, unknown>,
  options: { alert?: Record<string, unknown>; signal?: AbortSignal } = {},
): Promise<unknown> {
  const params = httpApi.params!.parse(args);
  return Promise.resolve(httpApi.run(params, pluginContext(options)));
}

const json = (data: unknown, status = 200) =>
  new Response(JSON.stringify(data), {
    status,
    headers: { "content-type": "application/json; charset=utf-8" },
  });

Deno.test("http_api.run() GETs an encoded path and query and parses JSON", async () => {
  await withServer(() => json({ country: "AU" }), async (base, seen) => {
    const result = await call(
      { url: `${base}/v1/ip/{ip}?q={q}&src={source.ip}`, allow_private: true },
      {
        alert: {
          ip: "1.1.1.1;id",
          q: "a b&admin=1",
          source: { ip: "10.0.0.1/../x" },
        },
      },
    );
    assert.deepEqual(result, { country: "AU" });
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.method, "GET");
    assert.equal(
      seen[0]?.path,
      "/v1/ip/1.1.1.1%3Bid?q=a%20b%26admin%3D1&src=10.0.0.1%2F..%2Fx",
    );
  });
});

Deno.test("http_api.run() returns text for other content types", async () => {
  await withServer(
    () =>
      new Response("plain <b>text</b>", {
        headers: { "content-type": "text/plain" },
      }),
    async (base) => {
      assert.equal(
        await call({ url: `${base}/t`, allow_private: true }),
        "plain <b>text</b>",
      );
    },
  );
});

Deno.test("http_api.run() POSTs a JSON body filled with alert values as strings", async () => {
  await withServer(() => json({ ok: true }), async (base, seen) => {
    const body = {
      query: { ip: "{ip}", note: "seen {count} times", raw: "{evil}" },
      tags: ["{ip}", 7, null],
    };
    const alert = {
      ip: "1.1.1.1",
      count: 3,
      evil: '"}, "admin": true, "x": {"',
    };
    const result = await call({
      url: `${base}/search`,
      method: "POST",
      body,
      allow_private: true,
    }, { alert });
    assert.deepEqual(result, { ok: true });
    assert.equal(seen[0]?.method, "POST");
    assert.equal(seen[0]?.headers.get("content-type"), "application/json");
    assert.deepEqual(JSON.parse(seen[0]?.body ?? ""), {
      query: {
        ip: "1.1.1.1",
        note: "seen 3 times",
        raw: '"}, "admin": true, "x": {"',
      },
      tags: ["1.1.1.1", 7, null],
    });
  });
});

Deno.test("http_api.run() sends configured headers", async () => {
  await withServer(() => json({}), async (base, seen) => {
    await call({
      url: `${base}/h`,
      headers: { authorization: "Bearer s3cret", "x-api-key": "k" },
      allow_private: true,
    });
    assert.equal(seen[0]?.headers.get("authorization"), "Bearer s3cret");
    assert.equal(seen[0]?.headers.get("x-api-key"), "k");
    assert.match(seen[0]?.headers.get("accept") ?? "", /application\/json/);
  });
});

Deno.test("http_api.run() throws on non-2xx naming only the host", async () => {
  await withServer(() => json({ error: "down" }, 503), async (base) => {
    await assert.rejects(
      call({ url: `${base}/v1/ip/{ip}?apikey=SECRET`, allow_private: true }, {
        alert: { ip: "1.1.1.1" },
      }),
      (err: unknown) =>
        err instanceof Error && err.message === "HTTP 503 from 127.0.0.1",
    );
  });
});

Deno.test("http_api.run() refuses a body over max_bytes while it streams", async () => {
  const chunk = new Uint8Array(16 * 1024).fill(0x61);
  let cancelled!: () => void;
  const streamCancelled = new Promise<void>((resolve) => cancelled = resolve);
  // An endless body without Content-Length: only counting while streaming can stop it.
  const endless = () =>
    new Response(
      new ReadableStream<Uint8Array>({
        pull: (controller) => controller.enqueue(chunk),
        cancel: () => cancelled(),
      }),
      { headers: { "content-type": "text/plain" } },
    );
  await withServer(endless, async (base) => {
    await assert.rejects(
      call({ url: `${base}/big`, allow_private: true, max_bytes: 100_000 }),
      {
        name: "RangeError",
        message: "Response from 127.0.0.1 exceeds max_bytes (100000)",
      },
    );
    await streamCancelled;
  });
});

Deno.test("http_api.run() refuses a declared Content-Length over max_bytes", async () => {
  await withServer(() => new Response("x".repeat(2000)), async (base) => {
    await assert.rejects(
      call({ url: `${base}/big`, allow_private: true, max_bytes: 1000 }),
      RangeError,
    );
    assert.equal(
      await call({ url: `${base}/big`, allow_private: true, max_bytes: 2000 }),
      "x".repeat(2000),
    );
  });
});

Deno.test("http_api.run() stops the request when its signal aborts", async () => {
  // A raw TCP server that never answers: the test ends only when the client closes the connection.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const arrived = Promise.withResolvers<void>();
  const closedByClient = (async () => {
    const conn = await listener.accept();
    const buffer = new Uint8Array(4096);
    try {
      await conn.read(buffer);
      arrived.resolve();
      while (
        await conn.read(buffer) !== null
      ) { /* drain until the client hangs up */ }
    } catch (err) {
      if (!(err instanceof Deno.errors.ConnectionReset)) throw err;
    } finally {
      conn.close();
    }
  })();
  try {
    const controller = new AbortController();
    const pending = call({
      url: `http://127.0.0.1:${listener.addr.port}/slow`,
      allow_private: true,
    }, {
      signal: controller.signal,
    });
    await arrived.promise;
    controller.abort();
    await assert.rejects(pending, { name: "AbortError" });
    await closedByClient;
  } finally {
    listener.close();
  }
});

Deno.test("http_api.run() blocks loopback unless allow_private", async () => {
  await withServer(() => json({}), async (base, seen) => {
    await assert.rejects(call({ url: `${base}/x` }), BlockedRequestError);
    await assert.rejects(
      call({
        url: `${base}/x`,
        allow_private: true,
        allow_hosts: ["api.example"],
      }),
      /not in the allowlist/,
    );
    assert.equal(seen.length, 0);
  });
});

Deno.test("http_api.run() never lets alert data choose the host", async () => {
  await assert.rejects(
    call({ url: "http://{host}/x", allow_private: true }, {
      alert: { host: "127.0.0.1" },
    }),
    TypeError,
  );
});

Deno.test("http_api params refuse a body without POST", () => {
  const result = httpApi.params!.safeParse({
    url: "https://api.example/",
    body: { a: 1 },
  });
  assert.equal(result.success, false);
  assert.match(
    result.error?.issues[0]?.message ?? "",
    /body is only sent with method POST/,
  );
});
