/**
 * Clients as the rate limits and the audit trail see them (issue 16 item 9): IPv6 by /64, failed ingest
 * authentication logged and limited, `trusted_proxies` whose `X-Forwarded-For` is believed, and the
 * user headers (`trusted_user_header`, `ui_auth.trusted_header`) believed only from those proxies.
 * Requests go through `app.request()` with the connection's address as Deno.serve gives it.
 */
import assert from "node:assert/strict";
import { writeProject } from "./_config.ts";
import { ingestRequest } from "./_ingest.ts";
import { createApp } from "../routes/app.ts";
import { Metrics } from "../core/service/metrics.ts";
import { Queue } from "../core/service/queue.ts";
import { closeRuntime, createRuntime } from "../core/service/runtime.ts";
import { ConfigError } from "../core/errors.ts";

const TOKEN = "client-address-token-0123456789";

async function setup(global: Record<string, unknown>) {
  const project = await writeProject({
    global: { ingest_tokens: [TOKEN], ...global },
    detectors: { d: { subject: "x" } },
  });
  const logs: Record<string, unknown>[] = [];
  const runtime = await createRuntime({
    configPath: project.config,
    env: (name) => project.env[name],
    log: (event, fields) => logs.push({ event, ...fields }),
  });
  const queue = new Queue(runtime);
  await queue.start(0);
  // The limiters' clock stands still: the buckets refill (failed sign-ins one per 2 s, failed ingest
  // one per 2 s) while a loaded machine runs the 1,000 requests below, which would let an extra one
  // through. What is under test is which bucket a request takes from, not the refill.
  const at = Date.now();
  const app = createApp({
    runtime,
    queue,
    metrics: new Metrics(),
    now: () => at,
  });
  const from = (hostname: string) => ({ remoteAddr: { hostname } });
  return {
    logs,
    request: (path: string, init: RequestInit, remote: string) =>
      app.request(path, init, from(remote)),
    async [Symbol.asyncDispose]() {
      await queue.stop();
      await closeRuntime(runtime);
      await project.cleanup();
    },
  };
}

Deno.test("failed sign-ins from 1,000 addresses of one IPv6 /64 share one bucket; another /64 has its own", async () => {
  await using s = await setup({
    ui_auth: { users: [{ username: "analyst", password: "correct horse" }] },
  });
  const wrong = {
    headers: { authorization: `Basic ${btoa("analyst:nope-nope")}` },
  };
  const statuses: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const res = await s.request(
      "/alerts",
      wrong,
      `2001:db8:7:7::${i.toString(16)}`,
    );
    await res.body?.cancel();
    statuses.push(res.status);
  }
  assert.equal(statuses.filter((st) => st === 401).length, 10);
  assert.equal(statuses.filter((st) => st === 429).length, 990);
  const other = await s.request("/alerts", wrong, "2001:db8:7:8::1");
  await other.body?.cancel();
  assert.equal(other.status, 401);
});

Deno.test("POST /ingest with a bad token is logged with the client and limited per client to 10, then 429", async () => {
  await using s = await setup({});
  const statuses: number[] = [];
  for (let i = 0; i < 15; i++) {
    const res = await s.request(
      "/ingest/d",
      ingestRequest("wrong-token-000000000000000", "{}"),
      `2001:db8:9:9::${i + 1}`,
    );
    await res.body?.cancel();
    statuses.push(res.status);
  }
  assert.deepEqual(statuses, [...Array(10).fill(401), ...Array(5).fill(429)]);
  const failed = s.logs.filter((l) => l.event === "ingest_auth_failed");
  assert.equal(failed.length, 10, "logged within the budget, not beyond it");
  assert.equal(failed[0]!.client_ip, "2001:db8:9:9::1");
  assert.ok(!JSON.stringify(s.logs).includes("wrong-token-000000000000000"));
  // The right token still gets through from that /64, and another client still gets its 401.
  const ok = await s.request(
    "/ingest/d",
    ingestRequest(TOKEN, "{}"),
    "2001:db8:9:9::99",
  );
  assert.equal(ok.status, 202, await ok.text());
  const elsewhere = await s.request(
    "/ingest/d",
    ingestRequest("bad", "{}"),
    "192.0.2.1",
  );
  await elsewhere.body?.cancel();
  assert.equal(elsewhere.status, 401);
});

Deno.test("trusted_proxies: X-Forwarded-For names the client only from a trusted proxy", async () => {
  await using s = await setup({
    trusted_proxies: ["10.0.0.5"],
    ui_auth: { users: [{ username: "analyst", password: "correct horse" }] },
  });
  const wrong = (xff: string) => ({
    headers: {
      authorization: `Basic ${btoa("analyst:nope-nope")}`,
      "x-forwarded-for": xff,
    },
  });
  // Behind the proxy, twelve analysts get twelve buckets (none is limited).
  for (let i = 1; i <= 12; i++) {
    const res = await s.request(
      "/alerts",
      wrong(`198.51.100.${i}`),
      "10.0.0.5",
    );
    await res.body?.cancel();
    assert.equal(res.status, 401, `analyst ${i}`);
  }
  const refused = s.logs.filter((l) => l.event === "ui_auth_refused");
  assert.equal(refused[0]!.client_ip, "198.51.100.1");
  // A client talking to Blitz directly cannot pick its bucket with the header.
  const statuses: number[] = [];
  for (let i = 1; i <= 12; i++) {
    const res = await s.request(
      "/alerts",
      wrong(`198.51.100.${100 + i}`),
      "192.0.2.50",
    );
    await res.body?.cancel();
    statuses.push(res.status);
  }
  assert.deepEqual(statuses, [...Array(10).fill(401), 429, 429]);
});

Deno.test("ui_auth.trusted_header and trusted_user_header are believed only from trusted_proxies", async () => {
  await using s = await setup({
    trusted_proxies: ["10.0.0.5/32"],
    trusted_user_header: "X-Forwarded-User",
    ui_auth: { trusted_header: "X-Forwarded-User" },
  });
  const as = { headers: { "x-forwarded-user": "admin@example.test" } };
  const direct = await s.request("/alerts", as, "192.0.2.50");
  await direct.body?.cancel();
  assert.equal(direct.status, 401, "a client's own header is not a sign-in");
  const proxied = await s.request("/alerts", as, "10.0.0.5");
  assert.equal(proxied.status, 200, await proxied.text());
});

Deno.test("a trusted user header without trusted_proxies is a config error naming the fix", async () => {
  for (
    const global of [
      { trusted_user_header: "X-Forwarded-User" },
      { ui_auth: { trusted_header: "X-Forwarded-User" } },
    ]
  ) {
    const project = await writeProject({ global, detectors: { d: {} } });
    try {
      const err = await createRuntime({
        configPath: project.config,
        env: (name) => project.env[name],
        log: () => {},
      }).then(closeRuntime, (e: unknown) => e);
      assert.ok(err instanceof ConfigError, String(err));
      assert.match(
        err.message,
        /(trusted_user_header|ui_auth\.trusted_header): X-Forwarded-User is believed only from trusted_proxies: add trusted_proxies/,
      );
    } finally {
      await project.cleanup();
    }
  }
  const bad = await writeProject({
    global: { trusted_proxies: ["10.0.0.0/33"] },
    detectors: { d: {} },
  });
  try {
    await assert.rejects(
      createRuntime({
        configPath: bad.config,
        env: (n) => bad.env[n],
        log: () => {},
      }),
      /trusted_proxies\[0\]: must be an IP address or a CIDR block/,
    );
  } finally {
    await bad.cleanup();
  }
});
