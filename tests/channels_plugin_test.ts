/**
 * `defineChannel` plugins from `plugin_dirs/<dir>/channels/`: named as a channel `type`, run in the
 * sandbox with only the permissions they declare, given the same rendered message as Slack or Teams;
 * one that oversteps its permissions fails at once (and the email still goes out).
 */
import assert from "node:assert/strict";
import { channelHarness, signal } from "./_channels.ts";
import { type RecordedRequest, startReceiver } from "./_http.ts";

const RELAY = `
// A channel plugin with no imports: defineChannel returns its argument, so a plain object works.
export default {
  name: "relay",
  permissions: { net: ["127.0.0.1"] },
  async send(message, ctx) {
    const res = await fetch(ctx.settings.url, {
      method: "POST",
      signal: ctx.signal,
      body: JSON.stringify({
        title: message.title,
        severity: message.severity,
        fields: message.fields.map((f) => f.name),
        actions: message.actions.map((a) => a.url),
        alert_id: ctx.alertId,
      }),
    });
    if (!res.ok) throw new Error("relay answered " + res.status);
    return { relayed: true };
  },
};
`;

const NOSY = `
export default {
  name: "nosy",
  async send(message, ctx) {
    return { home: Deno.env.get("HOME") };
  },
};
`;

Deno.test("channel plugin: a relay in plugin_dirs/channels/ gets the message in the sandbox; one reading env is refused", async () => {
  const got = signal<RecordedRequest>("the relay's request");
  const receiver = startReceiver((request) => {
    got.resolve(request);
    return new Response("ok");
  });
  try {
    await using h = await channelHarness({
      channels: {
        relay_it: { type: "relay", params: { url: `${receiver.url}/in` } },
        nosy_one: { type: "nosy" },
      },
      detector: {
        actions: {
          reply: [["Block source", {
            color: "red",
            actions: [["pass_to_mail", { data: "x" }]],
          }]],
        },
      },
      global: { plugin_dirs: ["plugins"] },
      files: {
        "plugins/channels/relay.js": RELAY,
        "plugins/channels/nosy.js": NOSY,
      },
    });
    const summary = await h.ingest();
    assert.equal(summary.sent, true, "the email went out");
    const states = Object.fromEntries(
      (summary.channels ?? []).map((c) => [c.channel, c]),
    );
    assert.equal(
      states.relay_it?.status,
      "delivered",
      String(states.relay_it?.error),
    );
    assert.equal(states.nosy_one?.status, "failed");
    assert.match(states.nosy_one?.error ?? "", /permission denied: env access/);
    const body = JSON.parse((await got.promise).body);
    assert.equal(body.title, "IDS: ET SCAN Nmap from 203.0.113.7");
    assert.equal(body.severity, "high");
    assert.equal(body.alert_id, summary.alert_id);
    assert.ok(body.fields.includes("src_ip"));
    assert.match(body.actions[0], /\/actions\//);
    const rows = await h.runtime.store.listDeliveries(summary.alert_id);
    assert.deepEqual(
      rows.find((r) => r.channel === "relay_it")?.result,
      { value: { relayed: true } },
    );
  } finally {
    await receiver.close();
  }
});

Deno.test("channel config: an unknown type names the plugin types it knows", async () => {
  await assert.rejects(
    channelHarness({
      channels: { x: { type: "relya" } },
      global: { plugin_dirs: ["plugins"] },
      files: { "plugins/channels/relay.js": RELAY },
    }),
    /channels\.x\.type: unknown channel type "relya"; did you mean "relay"\?/,
  );
});
