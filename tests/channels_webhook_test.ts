/**
 * The `webhook` channel end to end: an alert ingested through the pipeline is mailed to a real SMTP
 * server and posted to a loopback receiver that verifies the Standard Webhooks signature with its own
 * implementation of the scheme (node:crypto, not Blitz's code); a receiver that is down does not hold up
 * the email, and the delivery is retried (same `webhook-id`) until it is back.
 */
import assert from "node:assert/strict";
import { createHmac, timingSafeEqual } from "node:crypto";
import { Buffer } from "node:buffer";
import { channelHarness, signal } from "./_channels.ts";
import { createApp } from "../routes/app.ts";
import { Metrics } from "../core/service/metrics.ts";
import { Queue } from "../core/service/queue.ts";
import { ChannelQueue } from "../core/service/channel_queue.ts";
import {
  type RecordedRequest,
  startDeferredServer,
  startReceiver,
} from "./_http.ts";

const SECRET = `whsec_${btoa("a-test-secret-of-32-bytes-long!!")}`;

/** The receiver's own check of Standard Webhooks (standardwebhooks.com spec), 5 minutes of tolerance. */
function verifyStandardWebhook(
  request: { headers: Headers; body: string },
  secret: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): boolean {
  const id = request.headers.get("webhook-id");
  const timestamp = request.headers.get("webhook-timestamp");
  const signatures = request.headers.get("webhook-signature");
  if (!id || !timestamp || !signatures) return false;
  if (Math.abs(nowSeconds - Number(timestamp)) > 300) return false;
  const key = Buffer.from(secret.slice("whsec_".length), "base64");
  const expected = createHmac("sha256", key)
    .update(`${id}.${timestamp}.${request.body}`)
    .digest();
  return signatures.split(" ").some((entry) => {
    const [version, value] = entry.split(",");
    if (version !== "v1" || !value) return false;
    const given = Buffer.from(value, "base64");
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

Deno.test("webhook channel: the alert is posted signed with Standard Webhooks, verified by the receiver's own code", async () => {
  const received = signal<RecordedRequest>("the webhook");
  let verified = false;
  const receiver = startReceiver((request) => {
    verified = verifyStandardWebhook(request, SECRET);
    received.resolve(request);
    return verified
      ? new Response(null, { status: 204 })
      : new Response("bad signature", { status: 401 });
  });
  try {
    await using h = await channelHarness({
      channels: {
        soar_hook: {
          type: "webhook",
          url: `${receiver.url}/hooks/blitz`,
          secret: "${env:HOOK_SECRET}",
        },
      },
      detector: {
        actions: {
          reply: [["Block source", {
            color: "red",
            actions: [["pass_to_mail", { data: "x" }]],
          }]],
        },
      },
      env: { HOOK_SECRET: SECRET },
    });
    const summary = await h.ingest();
    assert.equal(summary.sent, true, "the email went out");
    assert.deepEqual(summary.channels, [{
      channel: "soar_hook",
      status: "delivered",
    }]);
    const request = await received.promise;
    assert.ok(verified, "the receiver verified the signature");
    assert.equal(request.path, "/hooks/blitz");
    assert.equal(request.headers.get("content-type"), "application/json");
    const body = JSON.parse(request.body);
    assert.equal(body.type, "blitz.alert");
    assert.equal(body.alert_id, summary.alert_id);
    assert.equal(body.severity, "high");
    assert.equal(body.status, "firing");
    assert.equal(body.subject, "IDS: ET SCAN Nmap from 203.0.113.7");
    assert.equal(body.alert.src_ip, "203.0.113.7");
    assert.equal(body.storm, null);
    assert.match(body.alert_url, new RegExp(`/alerts/${summary.alert_id}$`));
    assert.equal(body.actions.length, 1);
    assert.equal(body.actions[0].label, "Block source");
    assert.match(body.actions[0].url, /^http:\/\/127\.0\.0\.1:8080\/actions\//);
    // The same link as the email's button: one token, usable once wherever it is clicked.
    const [mail] = await h.smtp.waitFor(1);
    assert.ok(mail!.parsed.html?.toString().includes(body.actions[0].url));
    // A tampered body fails the receiver's check.
    assert.equal(
      verifyStandardWebhook(
        { headers: request.headers, body: request.body.replace("high", "low") },
        SECRET,
      ),
      false,
    );
    const [row] = await h.runtime.store.listDeliveries(summary.alert_id);
    assert.equal(row?.status, "delivered");
    assert.equal(row?.attempts, 1);
  } finally {
    await receiver.close();
  }
});

Deno.test("a channel that is down: the email still goes out, the channel is retried and delivered when it is back", async () => {
  const server = startDeferredServer(); // answers 503 until handle()
  const ids: string[] = [];
  try {
    await using h = await channelHarness({
      channels: {
        soar_hook: {
          type: "webhook",
          url: `${server.url}/hook`,
          secret: "${env:HOOK_SECRET}",
        },
      },
      env: { HOOK_SECRET: SECRET },
      global: {
        ui_auth: { trusted_header: "X-Test-User" },
        trusted_proxies: ["127.0.0.1/32"],
      },
    });
    const summary = await h.ingest();
    assert.equal(summary.sent, true, "the email went out");
    assert.equal((await h.smtp.waitFor(1)).length, 1);
    const page = async () => {
      const app = createApp({
        runtime: h.runtime,
        queue: new Queue(h.runtime),
        metrics: new Metrics(),
      });
      const res = await app.request(`/alerts/${summary.alert_id}`, {
        headers: { "X-Test-User": "ana" },
      }, { remoteAddr: { hostname: "127.0.0.1" } }); // the sign-in proxy
      assert.equal(res.status, 200);
      return await res.text();
    };
    const before = await page();
    assert.match(before, /<h2[^>]*>Channels<\/h2>/);
    assert.match(before, /soar_hook.*webhook/s);
    assert.match(before, /pending/);
    assert.match(before, /answered 503/);
    assert.equal(summary.channels?.[0]?.status, "pending");
    assert.match(summary.channels?.[0]?.error ?? "", /answered 503/);
    const delivered = signal<RecordedRequest>("the webhook after it is back");
    let failures = 0;
    server.handle(async (req) => {
      const body = await req.text();
      ids.push(req.headers.get("webhook-id") ?? "");
      if (failures++ < 2) return new Response("still down", { status: 502 });
      if (!verifyStandardWebhook({ headers: req.headers, body }, SECRET)) {
        return new Response("bad signature", { status: 401 });
      }
      delivered.resolve({
        method: req.method,
        path: new URL(req.url).pathname,
        search: "",
        headers: req.headers,
        body,
      });
      return new Response("ok");
    });
    const metrics = new Metrics();
    const queue = new ChannelQueue(metrics.instrument(h.runtime), {
      pollMs: 20,
    });
    queue.start();
    const request = await delivered.promise.finally(() =>
      queue.stop({ graceMs: 5_000 })
    );
    assert.equal(JSON.parse(request.body).alert_id, summary.alert_id);
    assert.equal(
      new Set(ids).size,
      1,
      "every retry carries the same webhook-id",
    );
    // The outcome is recorded after the answer: wait for it (bounded).
    for (let i = 0; i < 500; i++) {
      const [row] = await h.runtime.store.listDeliveries(summary.alert_id);
      if (row?.status === "delivered") {
        assert.equal(row.attempts, 4); // the CLI's attempt, two 502s, then delivered
        assert.equal(row.last_error, undefined);
        break;
      }
      if (i === 499) assert.fail(`still ${row?.status}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal((await h.smtp.waitFor(1)).length, 1, "the email went once");
    assert.match(await page(), /delivered \d/);
    const text = metrics.render();
    assert.match(
      text,
      /blitz_channel_attempts_total\{channel="soar_hook",type="webhook",outcome="retry"\} 2\n/,
    );
    assert.match(
      text,
      /blitz_channel_attempts_total\{channel="soar_hook",type="webhook",outcome="delivered"\} 1\n/,
    );
  } finally {
    await server.close();
  }
});
