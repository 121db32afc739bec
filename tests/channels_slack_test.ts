/**
 * The `slack` channel end to end against a fake Slack Web API driven by the real `@slack/web-api` client
 * (tests/_slack_fake.ts checks the token and Block Kit limits), and `POST /slack/interactions` through
 * the real app (`app.request`), signed by the test's own HMAC code: a stale timestamp (301 s) and a
 * flipped byte are 401; a Slack retry and a double click run the button once; Slack's 200 comes back
 * while a slow fake Jira still holds the ticket, and the message is updated after the run; allowed_users;
 * URL buttons without a signing secret; 429 + Retry-After.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createApp } from "../routes/app.ts";
import { Metrics } from "../core/service/metrics.ts";
import { Queue } from "../core/service/queue.ts";
import { channelHarness, signal } from "./_channels.ts";
import { type SlackCall, startSlackFake } from "./_slack_fake.ts";
import { type Receiver, startReceiver } from "./_http.ts";

const TOKEN = "xoxb-test-1234-abcd";
const SIGNING_SECRET = "slack-signing-secret-for-tests-0123";

/** A fake Jira that holds every create until `release()` (or 60 s, a bound: the test checks what is true while it holds): a slow Jira. */
function slowJira(): Receiver & { called: Promise<void>; release(): void } {
  const called = signal("the Jira create");
  const gate = Promise.withResolvers<void>();
  let n = 0;
  const receiver = startReceiver(async ({ method, path }, url) => {
    if (method !== "POST" || path !== "/rest/api/2/issue") {
      return Response.json({ errorMessages: ["Not found"] }, { status: 404 });
    }
    called.resolve();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      gate.promise,
      new Promise((r) => timer = setTimeout(r, 60_000)),
    ]);
    clearTimeout(timer);
    n++;
    return Response.json({
      id: String(10_000 + n),
      key: `SOC-${n}`,
      self: `${url.origin}${path}/${10_000 + n}`,
    }, { status: 201 });
  });
  return { ...receiver, called: called.promise, release: () => gate.resolve() };
}

function detector(jiraUrl: string): Record<string, unknown> {
  return {
    actions: {
      reply: [
        ["Create JIRA", {
          color: "orange",
          actions: [["jira_create", {
            return_name: "jira_id",
            data: {
              conn_details: {
                server: jiraUrl,
                username: "${env:JIRA_USER}",
                password: "${env:JIRA_TOKEN}",
              },
              fields: {
                project: { key: "SOC" },
                issuetype: { name: "Task" },
                summary: "IDS {src_ip}",
              },
            },
          }]],
        }],
        ["Note it", {
          color: "blue",
          actions: [["pass_to_mail", { data: "noted {src_ip}" }]],
        }],
      ],
    },
  };
}

function slackChannel(
  apiUrl: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    type: "slack",
    token: "${env:SLACK_BOT_TOKEN}",
    channel: "#soc-alerts",
    signing_secret: "${env:SLACK_SIGNING_SECRET}",
    api_url: apiUrl,
    ...extra,
  };
}

/** A signed `block_actions` request as Slack sends it (the test's own signing code). */
function interaction(
  value: string,
  options: {
    user?: string;
    ageS?: number;
    flip?: boolean;
    retry?: boolean;
  } = {},
): RequestInit {
  const payload = {
    type: "block_actions",
    user: { id: options.user ?? "U012ABC", username: "alice", name: "alice" },
    channel: { id: "C0SOC", name: "soc-alerts" },
    container: {
      type: "message",
      channel_id: "C0SOC",
      message_ts: "1700000000.000100",
    },
    actions: [{
      type: "button",
      action_id: "blitz_action_0",
      block_id: "blitz_actions_0",
      value,
    }],
    response_url: "https://hooks.slack.com/actions/T/1/x",
  };
  const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const timestamp = String(
    Math.floor(Date.now() / 1000) - (options.ageS ?? 0),
  );
  const signature = `v0=${
    createHmac("sha256", SIGNING_SECRET).update(`v0:${timestamp}:${body}`)
      .digest("hex")
  }`;
  const sent = options.flip
    ? body.replace("alice", "alicf") // one byte changed after signing
    : body;
  return {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "x-slack-request-timestamp": timestamp,
      "x-slack-signature": signature,
      ...(options.retry
        ? { "x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout" }
        : {}),
    },
    body: sent,
  };
}

function buttons(call: SlackCall): Record<string, unknown>[] {
  const attachments = call.args.attachments as {
    blocks: { type: string; elements?: Record<string, unknown>[] }[];
  }[];
  return attachments.flatMap((a) => a.blocks).filter((b) =>
    b.type === "actions"
  ).flatMap((b) => b.elements ?? []);
}

function allText(call: SlackCall): string {
  return JSON.stringify(call.args.attachments);
}

Deno.test("slack channel: Block Kit message with the email's tokens as button values; a click runs once, answers 200 before the slow Jira, then chat.update", async () => {
  const slack = startSlackFake({
    token: TOKEN,
    users: { U012ABC: "alice@soc.example.test" },
  });
  const jira = slowJira();
  try {
    await using h = await channelHarness({
      channels: { soc_slack: slackChannel(slack.apiUrl) },
      detector: detector(jira.url),
      env: { SLACK_BOT_TOKEN: TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET },
    });
    const summary = await h.ingest();
    h.startChannelQueue(); // serve's retries and chat updates
    assert.deepEqual(summary.channels, [{
      channel: "soc_slack",
      status: "delivered",
    }]);
    const post = await slack.next("chat.postMessage", 0);
    assert.deepEqual(slack.problems, []);
    assert.equal(post.args.channel, "#soc-alerts");
    assert.match(
      String(post.args.text),
      /^\[HIGH\] IDS: ET SCAN Nmap from 203\.0\.113\.7/,
    );
    assert.match(allText(post), /203\.0\.113\.7/);
    assert.match(allText(post), /#e65100/, "high severity colour");
    const [mail] = await h.smtp.waitFor(1);
    const html = String(mail!.parsed.html);
    const [create, note] = buttons(post);
    assert.equal(create!.action_id, "blitz_action_0");
    assert.equal(note!.action_id, "blitz_action_1");
    assert.ok(
      html.includes(`/actions/${create!.value}`),
      "the Slack button's value is the email button's token",
    );
    assert.equal(create!.url, undefined);

    const app = createApp({
      runtime: h.runtime,
      queue: new Queue(h.runtime),
      metrics: new Metrics(),
    });
    const url = "http://127.0.0.1/slack/interactions";
    const value = String(create!.value);
    // Stale (301 s) and tampered requests are refused, and run nothing.
    assert.equal(
      (await app.request(url, interaction(value, { ageS: 301 }))).status,
      401,
    );
    assert.equal(
      (await app.request(url, interaction(value, { flip: true }))).status,
      401,
    );
    assert.equal(jira.requests.length, 0);

    const first = await app.request(url, interaction(value));
    assert.equal(first.status, 200, "Slack gets its answer at once");
    // The steps run in the background: Jira is still holding the ticket when the 200 is in hand.
    await jira.called;
    assert.equal(
      slack.calls.filter((c) => c.method === "chat.update").length,
      0,
    );
    const [running] = await h.runtime.store.listActionRuns(summary.alert_id);
    assert.equal(running?.status, "running");
    assert.equal(running?.actor, "@alice (U012ABC, alice@soc.example.test)");
    assert.equal(running?.actor_source, "slack");
    // A Slack retry and a second click: the nonce is already consumed, nothing runs again.
    const retry = await app.request(url, interaction(value, { retry: true }));
    const again = await app.request(url, interaction(value));
    assert.equal(retry.status, 200);
    assert.equal(again.status, 200);
    const updated = slack.next("chat.update", 0);
    jira.release();
    const update = await updated;
    assert.deepEqual(slack.problems, []);
    assert.equal(update.args.channel, "C0SOC");
    assert.equal(update.args.ts, "1700000000.000100", "the posted message");
    assert.match(allText(update), /Create JIRA\* — done by @alice: SOC-1/);
    assert.deepEqual(
      buttons(update).map((b) => b.action_id),
      ["blitz_action_1"],
      "the button that ran is replaced by its outcome",
    );
    assert.equal(jira.requests.length, 1, "one Jira ticket for three requests");
    const runs = await h.runtime.store.listActionRuns(summary.alert_id);
    assert.equal(runs.length, 1);
    assert.equal(runs[0]!.status, "ok");
    const ephemeral = await slack.next("chat.postEphemeral", 0);
    assert.match(String(ephemeral.args.text), /already run by @alice/);
    assert.equal(
      slack.calls.filter((c) => c.method === "chat.postEphemeral").length,
      1,
      "the retry is silent, the double click is told",
    );
  } finally {
    jira.release();
    await Promise.all([slack.close(), jira.close()]);
  }
});

Deno.test("slack interactions: a user outside allowed_users runs nothing and is told so", async () => {
  const slack = startSlackFake({ token: TOKEN });
  const jira = slowJira();
  try {
    await using h = await channelHarness({
      channels: {
        soc_slack: slackChannel(slack.apiUrl, { allowed_users: ["U012ABC"] }),
      },
      detector: detector(jira.url),
      env: { SLACK_BOT_TOKEN: TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET },
    });
    const summary = await h.ingest();
    const post = await slack.next("chat.postMessage", 0);
    const app = createApp({
      runtime: h.runtime,
      queue: new Queue(h.runtime),
      metrics: new Metrics(),
    });
    const res = await app.request(
      "http://127.0.0.1/slack/interactions",
      interaction(String(buttons(post)[0]!.value), { user: "U999EVE" }),
    );
    assert.equal(res.status, 200);
    const told = await slack.next("chat.postEphemeral", 0);
    assert.equal(told.args.user, "U999EVE");
    assert.match(String(told.args.text), /not allowed/);
    assert.deepEqual(
      await h.runtime.store.listActionRuns(summary.alert_id),
      [],
    );
    assert.equal(jira.requests.length, 0);
  } finally {
    jira.release();
    await Promise.all([slack.close(), jira.close()]);
  }
});

Deno.test("slack channel without a signing secret: URL buttons to the confirmation page; /slack/interactions is 404", async () => {
  const slack = startSlackFake({ token: TOKEN });
  try {
    await using h = await channelHarness({
      channels: {
        soc_slack: slackChannel(slack.apiUrl, { signing_secret: undefined }),
      },
      detector: detector("http://127.0.0.1:9"),
      env: { SLACK_BOT_TOKEN: TOKEN },
    });
    await h.ingest();
    const post = await slack.next("chat.postMessage", 0);
    const [create] = buttons(post);
    assert.equal(create!.value, undefined);
    assert.match(
      String(create!.url),
      /^http:\/\/127\.0\.0\.1:8080\/actions\/[\w-]+$/,
    );
    const [mail] = await h.smtp.waitFor(1);
    assert.ok(String(mail!.parsed.html).includes(String(create!.url)));
    const app = createApp({
      runtime: h.runtime,
      queue: new Queue(h.runtime),
      metrics: new Metrics(),
    });
    const res = await app.request(
      "http://127.0.0.1/slack/interactions",
      interaction("x"),
    );
    assert.equal(res.status, 404);
  } finally {
    await slack.close();
  }
});

Deno.test("slack channel: a 429 is retried no sooner than its Retry-After, then delivered", async () => {
  const slack = startSlackFake({
    token: TOKEN,
    rateLimitFirst: 1,
    retryAfterS: 2,
    rateLimitDelayMs: 300, // the wait counts from the answer, not from the request
  });
  try {
    await using h = await channelHarness({
      channels: { soc_slack: slackChannel(slack.apiUrl) },
      env: { SLACK_BOT_TOKEN: TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET },
    });
    const summary = await h.ingest();
    assert.equal(summary.channels?.[0]?.status, "pending");
    assert.match(summary.channels?.[0]?.error ?? "", /rate limited/);
    // Measured from the 429 as the fake sent it (the client has it no sooner): the 300 ms the answer
    // took must not come off the wait, on a loaded machine or a slow link.
    const limited = slack.calls[0]!;
    assert.equal(limited.method, "chat.postMessage");
    const [row] = await h.runtime.store.listDeliveries(summary.alert_id);
    const wait = Date.parse(row!.next_attempt_at) - limited.at;
    assert.ok(
      wait >= 2_000,
      `next attempt ${wait} ms after the 429 (Retry-After: 2)`,
    );
    h.startChannelQueue();
    const retry = await slack.next("chat.postMessage", 1);
    assert.ok(
      retry.at - limited.at >= 2_000,
      `retried ${retry.at - limited.at} ms after the 429`,
    );
    assert.deepEqual(slack.problems, []);
  } finally {
    await slack.close();
  }
});

Deno.test("slack channel: a button run from the email's confirmation page updates the Slack message too", async () => {
  const slack = startSlackFake({ token: TOKEN });
  try {
    await using h = await channelHarness({
      channels: { soc_slack: slackChannel(slack.apiUrl) },
      detector: detector("http://127.0.0.1:9"),
      env: { SLACK_BOT_TOKEN: TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET },
    });
    await h.ingest();
    h.startChannelQueue();
    const post = await slack.next("chat.postMessage", 0);
    const note = buttons(post)[1]!;
    const app = createApp({
      runtime: h.runtime,
      queue: new Queue(h.runtime),
      metrics: new Metrics(),
    });
    const link = `/actions/${note.value}`;
    const page = await (await app.request(link)).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1];
    assert.ok(csrf, "the confirmation page has its CSRF field");
    const updated = slack.next("chat.update", 0);
    const res = await app.request(link, {
      method: "POST",
      body: new URLSearchParams({ csrf, actor: "Ana Analyst" }),
    });
    assert.equal(res.status, 200);
    const update = await updated;
    assert.match(
      allText(update),
      /Note it\* — done by Ana Analyst: noted 203\.0\.113\.7/,
    );
    assert.deepEqual(buttons(update).map((b) => b.action_id), [
      "blitz_action_0",
    ]);
    assert.deepEqual(slack.problems, []);
  } finally {
    await slack.close();
  }
});
