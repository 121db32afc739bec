/**
 * Ingest with `ingest_hmac_secret` configured (issue 16): signatures are mandatory. An unsigned or
 * badly signed request with a valid token is a 401, logged as `ingest_auth_failed` and limited like
 * the other failed authentications; nothing of it is stored.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ingestRoutes } from "./ingest.ts";
import { signBody } from "../core/auth/auth.ts";
import { Metrics } from "../core/service/metrics.ts";
import { Queue } from "../core/service/queue.ts";
import { closeRuntime, createRuntime } from "../core/service/runtime.ts";
import { writeProject } from "../tests/_config.ts";
import { ingestRequest } from "../tests/_ingest.ts";

const TOKEN = "signing-test-token-0123456789";
const SECRET = "signing-test-hmac-secret-0123456789";

async function setup() {
  const project = await writeProject({
    global: {
      action_keys: undefined,
      ingest_tokens: [TOKEN],
      ingest_hmac_secret: SECRET,
    },
    detectors: { d1: { subject: "x", enrichments: [] } },
  });
  const logs: Record<string, unknown>[] = [];
  const runtime = await createRuntime({
    configPath: project.config,
    log: (event, fields) => logs.push({ event, ...fields }),
  });
  const metrics = new Metrics();
  const queue = new Queue(runtime, { metrics });
  await queue.start(0); // no workers: accepted alerts stay queued
  const app = ingestRoutes({ runtime, queue, metrics });
  const post = (body: string, headers: Record<string, string> = {}) =>
    app.request("/ingest/d1", ingestRequest(TOKEN, body, headers));
  return {
    runtime,
    logs,
    post,
    async [Symbol.asyncDispose]() {
      await queue.stop();
      await closeRuntime(runtime);
      await project.cleanup();
    },
  };
}

function signed(body: string, at = Math.floor(Date.now() / 1000)) {
  return {
    "x-blitz-timestamp": String(at),
    "x-blitz-signature": signBody(SECRET, at, body),
  };
}

Deno.test("ingestRoutes() with ingest_hmac_secret refuses an unsigned request with a valid token (401, logged, nothing stored)", async () => {
  await using s = await setup();
  const res = await s.post('{"n":"unsigned"}');
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="blitz"');
  const body = await res.json();
  assert.match(body.error, /requires signed requests/);
  assert.match(body.error, /X-Blitz-Signature/);
  const logged = s.logs.filter((l) => l.event === "ingest_auth_failed");
  assert.equal(logged.length, 1);
  assert.match(String(logged[0]!.reason), /Missing signature/);
  assert.equal(logged[0]!.detector, "d1");
  assert.deepEqual(await s.runtime.store.listAlerts(), []);
  assert.ok(!s.logs.some((l) => l.event === "accepted"));
});

Deno.test("ingestRoutes() with ingest_hmac_secret accepts a signed request and refuses a bad or stale signature", async () => {
  await using s = await setup();
  const body = '{"n":"signed"}';
  const ok = await s.post(body, signed(body));
  assert.equal(ok.status, 202, await ok.clone().text());
  const { ids } = await ok.json();
  assert.equal(
    s.logs.find((l) => l.event === "accepted" && l.alert_id === ids[0])
      ?.signed,
    true,
  );
  const changed = await s.post('{"n":"signed!"}', signed(body));
  assert.equal(changed.status, 401);
  assert.match((await changed.json()).error, /Invalid X-Blitz-Signature/);
  const stale = Math.floor(Date.now() / 1000) - 301;
  const old = await s.post(body, signed(body, stale));
  assert.equal(old.status, 401);
  const half = await s.post(body, {
    "x-blitz-signature": signed(body)["x-blitz-signature"],
  });
  assert.equal(half.status, 401);
  assert.equal(
    s.logs.filter((l) => l.event === "ingest_auth_failed").length,
    3,
  );
  assert.equal((await s.runtime.store.listAlerts()).length, 1);
});

Deno.test("ingestRoutes() with ingest_hmac_secret rate-limits unsigned requests like other failed authentications", async () => {
  await using s = await setup();
  const statuses: number[] = [];
  for (let i = 0; i < 12; i++) {
    const res = await s.post(`{"n":${i}}`);
    statuses.push(res.status);
    if (res.status === 429) {
      assert.ok(Number(res.headers.get("retry-after")) >= 1);
    }
    await res.body?.cancel();
  }
  assert.deepEqual(statuses.slice(0, 10), Array(10).fill(401));
  assert.deepEqual(statuses.slice(10), [429, 429]);
  // Past the budget nothing more is logged: a flood costs no log lines.
  assert.equal(
    s.logs.filter((l) => l.event === "ingest_auth_failed").length,
    10,
  );
  assert.deepEqual(await s.runtime.store.listAlerts(), []);
});
