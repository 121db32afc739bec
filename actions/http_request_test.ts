import assert from "node:assert/strict";
import plugin from "./http_request.ts";
import { type Receiver, startReceiver } from "../tests/_http.ts";
import { parseParams, pluginContext } from "../tests/_plugin.ts";

/** A loopback API: `/block/*` answers JSON, `/fail` 503, `/text` plain text, `/to-metadata` redirects to 169.254.169.254. */
function receiver(): Receiver {
  return startReceiver(({ path }) => {
    if (path.startsWith("/block/")) {
      return Response.json({ blocked: true, rule: 42 });
    }
    if (path === "/fail") {
      return new Response("firewall is read-only", { status: 503 });
    }
    if (path === "/text") return new Response("queued");
    if (path === "/to-metadata") {
      return new Response(null, {
        status: 302,
        headers: { location: "http://169.254.169.254/latest/meta-data/" },
      });
    }
    return new Response("not found", { status: 404 });
  });
}

/** Runs the plugin with `input` as its params. */
function run(input: Record<string, unknown>): Promise<unknown> {
  return Promise.resolve(
    plugin.run(parseParams(plugin, input), pluginContext()),
  );
}

Deno.test("http_request run() sends method, headers and a JSON body and returns status and parsed body", async () => {
  const api = receiver();
  try {
    const result = await run({
      method: "post",
      url: `${api.url}/block/10.0.0.5?ticket=SOC-1`,
      headers: { "X-Api-Key": "fw-key-123" },
      body: { ip: "10.0.0.5", ticket: "SOC-1" },
      allow_private: true,
    });
    assert.deepEqual(result, {
      status: 200,
      body: { blocked: true, rule: 42 },
    });
    assert.equal(api.requests.length, 1);
    const [request] = api.requests;
    assert.equal(request!.method, "POST");
    assert.equal(request!.path, "/block/10.0.0.5");
    assert.equal(request!.search, "?ticket=SOC-1");
    assert.equal(request!.headers.get("x-api-key"), "fw-key-123");
    assert.equal(request!.headers.get("content-type"), "application/json");
    assert.deepEqual(JSON.parse(request!.body), {
      ip: "10.0.0.5",
      ticket: "SOC-1",
    });
  } finally {
    await api.close();
  }
});

Deno.test("http_request run() sends a string body as text and returns a text answer as a string", async () => {
  const api = receiver();
  try {
    const result = await run({
      method: "PUT",
      url: `${api.url}/text`,
      body: "scan 10.0.0.5",
      allow_private: true,
    });
    assert.deepEqual(result, { status: 200, body: "queued" });
    assert.equal(api.requests[0]!.body, "scan 10.0.0.5");
    assert.match(
      api.requests[0]!.headers.get("content-type") ?? "",
      /^text\/plain/,
    );
  } finally {
    await api.close();
  }
});

Deno.test("http_request run() fails the step on a non-2xx answer", async () => {
  const api = receiver();
  try {
    await assert.rejects(
      () =>
        run({ method: "POST", url: `${api.url}/fail`, allow_private: true }),
      /POST 127\.0\.0\.1:\d+\/fail answered 503: firewall is read-only/,
    );
  } finally {
    await api.close();
  }
});

Deno.test("http_request run() refuses loopback without allow_private, other hosts with allow_hosts, and redirects to metadata", async () => {
  const api = receiver();
  try {
    await assert.rejects(
      () => run({ url: `${api.url}/block/1` }),
      /Blocked request to 127\.0\.0\.1: 127\.0\.0\.1 is a loopback address/,
    );
    await assert.rejects(
      () =>
        run({
          url: `${api.url}/block/1`,
          allow_private: true,
          allow_hosts: ["fw.example.test"],
        }),
      /host is not in the allowlist/,
    );
    assert.equal(api.requests.length, 0);
    await assert.rejects(
      () => run({ url: `${api.url}/to-metadata`, allow_private: true }),
      /169\.254\.169\.254 is a cloud metadata address/,
    );
    assert.equal(api.requests.length, 1);
  } finally {
    await api.close();
  }
});

Deno.test("http_request params refuse non-http schemes, header line breaks and a GET body", async () => {
  assert.equal(
    plugin.params!.safeParse({ url: "file:///etc/passwd" }).success,
    false,
  );
  assert.equal(
    plugin.params!.safeParse({
      url: "http://fw.example.test/",
      headers: { "X-A": "1\r\nX-B: 2" },
    }).success,
    false,
  );
  await assert.rejects(
    () => run({ url: "http://fw.example.test/", body: { a: 1 } }),
    /A GET request cannot have a body/,
  );
});
