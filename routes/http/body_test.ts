import assert from "node:assert/strict";
import { HTTPException } from "hono/http-exception";
import { bodyKind, parseAlerts, readBody } from "./body.ts";

const encode = (text: string) => new TextEncoder().encode(text);

async function refusal(
  fn: () => unknown,
): Promise<{ status: number; error: string; headers: Headers }> {
  try {
    await fn();
  } catch (err) {
    assert.ok(
      err instanceof HTTPException,
      `expected an HTTPException, got ${err}`,
    );
    const res = err.getResponse();
    assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
    return {
      status: res.status,
      error: (await res.json()).error,
      headers: res.headers,
    };
  }
  throw new assert.AssertionError({ message: "expected a refusal" });
}

/** A request whose body arrives in `count` chunks of `size` bytes, with no Content-Length (chunked). */
function chunkedRequest(
  size: number,
  count: number,
  onPull?: (sent: number) => void,
): Request {
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= count) return controller.close();
      sent++;
      onPull?.(sent);
      controller.enqueue(new Uint8Array(size).fill(0x20));
    },
  });
  return new Request("http://x/", { method: "POST", body });
}

Deno.test("bodyKind() accepts JSON and NDJSON media types, with a UTF-8 charset", () => {
  assert.equal(bodyKind("application/json"), "json");
  assert.equal(bodyKind("Application/JSON; charset=UTF-8"), "json");
  assert.equal(bodyKind("application/x-ndjson"), "ndjson");
  assert.equal(bodyKind("application/ndjson; charset=utf-8"), "ndjson");
});

Deno.test("bodyKind() answers 415 for other types and charsets", async () => {
  for (
    const type of [
      null,
      "",
      "text/plain",
      "application/xml",
      "multipart/form-data; boundary=x",
      "application/json; charset=latin1",
    ]
  ) {
    const { status, error } = await refusal(() => bodyKind(type));
    assert.equal(status, 415, String(type));
    assert.match(error, /Unsupported (media type|charset)/);
  }
});

Deno.test("readBody() returns the body within the limit", async () => {
  const bytes = await readBody(
    new Request("http://x/", { method: "POST", body: "hello" }),
    { maxBytes: 5 },
  );
  assert.equal(new TextDecoder().decode(bytes), "hello");
  const chunked = await readBody(chunkedRequest(1000, 3), { maxBytes: 3000 });
  assert.equal(chunked.byteLength, 3000);
});

Deno.test("readBody() refuses a declared Content-Length over the limit without reading", async () => {
  let pulled = 0;
  const request = new Request("http://x/", {
    method: "POST",
    headers: { "content-length": "1000001" },
    body: new ReadableStream({
      pull: (c) => void (pulled++, c.enqueue(new Uint8Array(10))),
    }),
  });
  const { status, error } = await refusal(() =>
    readBody(request, { maxBytes: 1_000_000 })
  );
  assert.equal(status, 413);
  assert.match(error, /max_body_bytes \(1000000 bytes\)/);
  assert.equal(pulled <= 1, true, `pulled ${pulled} chunks`);
});

Deno.test("readBody() stops reading a chunked body as soon as it passes the limit", async () => {
  let pulled = 0;
  const request = chunkedRequest(64 * 1024, 1000, (n) => (pulled = n)); // 64 MiB offered
  const { status } = await refusal(() =>
    readBody(request, { maxBytes: 1024 * 1024 })
  );
  assert.equal(status, 413);
  assert.ok(pulled <= 18, `read ${pulled} chunks of 64 KiB for a 1 MiB limit`);
});

Deno.test("readBody() answers 408 when the body stalls", async () => {
  const request = new Request("http://x/", {
    method: "POST",
    body: new ReadableStream({ pull: () => new Promise(() => {}) }),
  });
  const { status } = await refusal(() =>
    readBody(request, { maxBytes: 10, timeoutMs: 20 })
  );
  assert.equal(status, 408);
});

Deno.test("parseAlerts() reads one object, an array, and NDJSON", () => {
  assert.deepEqual(
    parseAlerts(encode('\ufeff{"a":1}'), { kind: "json", maxDepth: 8 }),
    { alerts: [{ a: 1 }], batch: false },
  );
  assert.deepEqual(
    parseAlerts(encode('[{"a":1},{"b":2}]'), { kind: "json", maxDepth: 8 }),
    {
      alerts: [{ a: 1 }, { b: 2 }],
      batch: true,
    },
  );
  assert.deepEqual(
    parseAlerts(encode('{"a":1}\r\n\n{"b":2}\n'), {
      kind: "ndjson",
      maxDepth: 8,
    }),
    {
      alerts: [{ a: 1 }, { b: 2 }],
      batch: true,
    },
  );
});

Deno.test("parseAlerts() names the bad element or line and accepts nothing", async () => {
  const cases: [string, "json" | "ndjson", RegExp][] = [
    [
      '[{"a":1},"x",{"c":3}]',
      "json",
      /^Element 1 of the array must be a JSON object, not string; nothing was accepted$/,
    ],
    [
      '[{"a":1},[1]]',
      "json",
      /^Element 1 of the array must be a JSON object, not an array/,
    ],
    [
      '{"a":1}\n{"b":\n{"c":3}',
      "ndjson",
      /^Line 2: invalid JSON: .*nothing was accepted$/,
    ],
    ['{"a":1}\n\n42', "ndjson", /^Line 3 must be a JSON object, not number/],
    ['{"a":', "json", /^Invalid JSON: /],
    ["null", "json", /^Alert must be a JSON object, not null/],
    ["   ", "json", /^Empty body/],
    ["\n\n", "ndjson", /^Empty body/],
    ["[]", "json", /^Empty batch/],
  ];
  for (const [text, kind, pattern] of cases) {
    const { status, error } = await refusal(() =>
      parseAlerts(encode(text), { kind, maxDepth: 8 })
    );
    assert.equal(status, 400, text);
    assert.match(error, pattern, text);
  }
});

Deno.test("parseAlerts() enforces the nesting depth limit, also deep inside a batch", async () => {
  const nested = (levels: number) =>
    '{"a":'.repeat(levels - 1) + "{}" + "}".repeat(levels - 1);
  assert.equal(
    parseAlerts(encode(nested(8)), { kind: "json", maxDepth: 8 }).alerts.length,
    1,
  );
  const single = await refusal(() =>
    parseAlerts(encode(nested(9)), { kind: "json", maxDepth: 8 })
  );
  assert.equal(single.status, 400);
  assert.match(single.error, /nested deeper than 8 levels/);
  const inBatch = await refusal(() =>
    parseAlerts(encode(`[{},${nested(9)}]`), { kind: "json", maxDepth: 8 })
  );
  assert.match(
    inBatch.error,
    /^Element 1 of the array is nested deeper than 8 levels/,
  );
  const huge = await refusal(() =>
    parseAlerts(encode("[".repeat(200_000) + "]".repeat(200_000)), {
      kind: "json",
      maxDepth: 8,
    })
  );
  assert.equal(huge.status, 400);
});

Deno.test("parseAlerts() refuses invalid UTF-8 and too many alerts", async () => {
  const bad = await refusal(() =>
    parseAlerts(new Uint8Array([0x7b, 0xff, 0x7d]), {
      kind: "json",
      maxDepth: 8,
    })
  );
  assert.equal(bad.status, 400);
  assert.match(bad.error, /UTF-8/);
  const many = await refusal(() =>
    parseAlerts(encode("[{},{},{}]"), {
      kind: "json",
      maxDepth: 8,
      maxAlerts: 2,
    })
  );
  assert.equal(many.status, 413);
  const lines = await refusal(() =>
    parseAlerts(encode("{}\n{}\n{}\n"), {
      kind: "ndjson",
      maxDepth: 8,
      maxAlerts: 2,
    })
  );
  assert.equal(lines.status, 413);
  assert.match(lines.error, /Batch of 3 alerts/);
});

async function gzip(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

Deno.test("readBody() undoes Content-Encoding: gzip and counts the limit on the decompressed bytes", async () => {
  const zipped = await gzip('{"a":1}');
  const request = (body: Uint8Array, coding = "gzip") =>
    new Request("http://x/", {
      method: "POST",
      headers: { "content-encoding": coding },
      body: body as Uint8Array<ArrayBuffer>,
    });
  assert.equal(
    new TextDecoder().decode(
      await readBody(request(zipped), { maxBytes: 100 }),
    ),
    '{"a":1}',
  );
  const bomb = await gzip(" ".repeat(10_000_000)); // ~10 KB that inflates to 10 MB
  assert.ok(bomb.byteLength < 20_000);
  assert.equal(
    (await refusal(() => readBody(request(bomb), { maxBytes: 1_000_000 })))
      .status,
    413,
  );
  const broken = await refusal(() =>
    readBody(request(encode("not gzip at all")), { maxBytes: 100 })
  );
  assert.equal(broken.status, 400);
  assert.match(broken.error, /not valid gzip/);
  const other = await refusal(() =>
    readBody(request(zipped, "br"), { maxBytes: 100 })
  );
  assert.equal(other.status, 415);
});

Deno.test("readBody() reads a body with its Content-Length whole, and checks its length again", async () => {
  const sized = (body: string, length = body.length) =>
    new Request("http://x/", {
      method: "POST",
      headers: { "content-length": String(length) },
      body,
    });
  assert.equal(
    new TextDecoder().decode(await readBody(sized("hello"), { maxBytes: 5 })),
    "hello",
  );
  assert.equal(
    (await readBody(sized("", 0), { maxBytes: 5 })).byteLength,
    0,
  );
  // A Request made in process may carry more than it declares; the server never reads more.
  const { status } = await refusal(() =>
    readBody(sized("hello, world", 5), { maxBytes: 5 })
  );
  assert.equal(status, 413);
  const stalled = new Request("http://x/", {
    method: "POST",
    headers: { "content-length": "10" },
    body: new ReadableStream({ pull: () => new Promise(() => {}) }),
  });
  assert.equal(
    (await refusal(() => readBody(stalled, { maxBytes: 10, timeoutMs: 20 })))
      .status,
    408,
  );
});

/**
 * A Deno.serve handler that reads each body with `readBody` (timeout `timeoutMs`) and answers its
 * length (or the refusal's status), announcing each request before it reads the body.
 */
function bodyServer(timeoutMs: number) {
  const arrived: PromiseWithResolvers<void>[] = [Promise.withResolvers()];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      arrived.at(-1)!.resolve();
      try {
        const bytes = await readBody(request, { maxBytes: 1000, timeoutMs });
        return new Response(`read ${bytes.byteLength}`);
      } catch (err) {
        if (err instanceof HTTPException) return err.getResponse();
        throw err;
      }
    },
  );
  return { server, arrived: arrived[0]!.promise };
}

/** Closes `conn` after `ms` unless the returned function is called first (a bound on every read). */
function bound(conn: Deno.Conn, ms = 10_000): () => void {
  const timer = setTimeout(() => conn.close(), ms);
  return () => clearTimeout(timer);
}

Deno.test("readBody() on a real connection reads a body whose second half arrives later", async () => {
  const { server, arrived } = bodyServer(30_000);
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  try {
    const body = '{"alert":"' + "x".repeat(300) + '"}';
    await conn.write(encode(
      `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${
        body.slice(0, 100)
      }`,
    ));
    await arrived; // the handler runs before the rest is sent
    await conn.write(encode(body.slice(100)));
    const unbound = bound(conn);
    const answer = await new Response(conn.readable).text();
    unbound();
    assert.match(answer, /^HTTP\/1\.1 200/);
    assert.match(answer, new RegExp(`read ${body.length}$`));
  } finally {
    await server.shutdown();
  }
});

Deno.test("readBody() on a real connection answers 408 when a body with its Content-Length stalls", async () => {
  const { server, arrived } = bodyServer(200);
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  try {
    await conn.write(encode(
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
    ));
    await arrived;
    const unbound = bound(conn);
    const reader = conn.readable.getReader();
    let answer = "";
    while (!answer.includes("\r\n")) {
      const { done, value } = await reader.read().catch(() => ({
        done: true as const,
        value: undefined,
      }));
      if (done) break;
      answer += new TextDecoder().decode(value);
    }
    unbound();
    assert.match(answer, /^HTTP\/1\.1 408/);
    reader.cancel().catch(() => {});
  } finally {
    try {
      conn.close();
    } catch {
      // closed by the bound
    }
    await server.shutdown();
  }
});
