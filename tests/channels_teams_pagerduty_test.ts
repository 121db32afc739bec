/**
 * The `teams` and `pagerduty` channels against loopback fakes that check the real request shapes:
 * a fake Teams Workflows endpoint that refuses a wrong `sig`, a body over 28 KB, an attachment whose
 * `contentType` is not `application/vnd.microsoft.card.adaptive` and any action but `Action.OpenUrl`;
 * a fake PagerDuty `/v2/enqueue` that requires the documented Events API v2 fields.
 */
import assert from "node:assert/strict";
import { channelHarness } from "./_channels.ts";
import { type RecordedRequest, startReceiver } from "./_http.ts";
import { fakePagerDuty } from "./_pagerduty.ts";

const SIG = "teams-sig-0123456789abcdefABCDEF";
const WORKFLOW_PATH = "/workflows/abc123/triggers/manual/paths/invoke";

/** A fake Teams Workflows trigger: 202 for a valid card request, else what Teams would answer. */
function fakeTeams() {
  const accepted: RecordedRequest[] = [];
  const refused: string[] = [];
  const receiver = startReceiver((request, url) => {
    const refuse = (status: number, why: string) => {
      refused.push(why);
      return Response.json({ error: { code: why } }, { status });
    };
    if (request.method !== "POST" || request.path !== WORKFLOW_PATH) {
      return refuse(404, "NotFound");
    }
    if (url.searchParams.get("sig") !== SIG) {
      return refuse(401, "DirectApiAuthorizationRequired");
    }
    if (new TextEncoder().encode(request.body).length > 28 * 1024) {
      return refuse(413, "MessageSizeExceeded");
    }
    let body: {
      type?: string;
      attachments?: {
        contentType?: string;
        content?: {
          type?: string;
          actions?: { type?: string; url?: string }[];
        };
      }[];
    };
    try {
      body = JSON.parse(request.body);
    } catch {
      return refuse(400, "InvalidJson");
    }
    if (body.type !== "message" || !body.attachments?.length) {
      return refuse(400, "InvalidMessage");
    }
    for (const attachment of body.attachments) {
      if (
        attachment.contentType !== "application/vnd.microsoft.card.adaptive"
      ) {
        return refuse(400, "InvalidContentType");
      }
      if (attachment.content?.type !== "AdaptiveCard") {
        return refuse(400, "InvalidCard");
      }
      const actions = attachment.content.actions ?? [];
      if (actions.some((a) => a.type !== "Action.OpenUrl" || !a.url)) {
        return refuse(400, "UnsupportedAction");
      }
    }
    accepted.push(request);
    return new Response(null, { status: 202 });
  });
  return { ...receiver, accepted, refused };
}

const REPLY = {
  actions: {
    reply: [["Block source", {
      color: "red",
      actions: [["pass_to_mail", { data: "x" }]],
    }]],
  },
};

Deno.test("teams channel: an Adaptive Card with Action.OpenUrl buttons; a wrong sig is refused and stays redacted", async () => {
  const teams = fakeTeams();
  try {
    await using h = await channelHarness({
      channels: {
        ir_teams: { type: "teams", webhook_url: "${env:TEAMS_WORKFLOW_URL}" },
        wrong_sig: { type: "teams", webhook_url: "${env:TEAMS_WRONG_URL}" },
      },
      detector: REPLY,
      env: {
        TEAMS_WORKFLOW_URL:
          `${teams.url}${WORKFLOW_PATH}?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=${SIG}`,
        TEAMS_WRONG_URL:
          `${teams.url}${WORKFLOW_PATH}?api-version=1&sv=1.0&sig=wrong-sig-value-0000`,
      },
    });
    const summary = await h.ingest();
    const states = Object.fromEntries(
      (summary.channels ?? []).map((c) => [c.channel, c]),
    );
    assert.equal(states.ir_teams?.status, "delivered");
    assert.equal(states.wrong_sig?.status, "failed", "a 401 is not retried");
    assert.deepEqual(teams.refused, ["DirectApiAuthorizationRequired"]);
    const card = JSON.parse(teams.accepted[0]!.body).attachments[0].content;
    assert.equal(card.body[0].text, "IDS: ET SCAN Nmap from 203.0.113.7");
    assert.match(JSON.stringify(card.body), /Severity: HIGH/);
    assert.deepEqual(card.actions.map((a: { title: string }) => a.title), [
      "Block source",
      "Alert page",
    ]);
    const [mail] = await h.smtp.waitFor(1);
    assert.ok(String(mail!.parsed.html).includes(card.actions[0].url));
    const text = h.logs.join("\n") +
      JSON.stringify(await h.runtime.store.listDeliveries(summary.alert_id));
    assert.ok(!text.includes("wrong-sig-value-0000"), "the sig never shows");
    assert.ok(!text.includes(SIG));
  } finally {
    await teams.close();
  }
});

Deno.test("teams channel: a card over 28 KB is shortened to fit, and says so", async () => {
  const teams = fakeTeams();
  try {
    await using h = await channelHarness({
      channels: {
        ir_teams: { type: "teams", webhook_url: "${env:TEAMS_WORKFLOW_URL}" },
      },
      detector: {
        ...REPLY,
        actions: {
          send: Array.from({ length: 12 }, (_, i) => [
            "pass_to_mail",
            { return_name: `big_${i}`, data: "{payload}" },
          ]),
          reply: REPLY.actions.reply,
        },
      },
      env: {
        TEAMS_WORKFLOW_URL:
          `${teams.url}${WORKFLOW_PATH}?api-version=1&sig=${SIG}`,
      },
    });
    const summary = await h.ingest({
      signature: "x".repeat(40_000),
      src_ip: "203.0.113.7",
      payload: "y".repeat(3_000),
    });
    assert.equal(summary.channels?.[0]?.status, "delivered");
    assert.deepEqual(teams.refused, []);
    const body = teams.accepted[0]!.body;
    assert.ok(new TextEncoder().encode(body).length <= 28 * 1024);
    assert.match(body, /Shortened to fit Teams' 28 KB message limit/);
  } finally {
    await teams.close();
  }
});

Deno.test("pagerduty channel: trigger with the storm fingerprint as dedup_key and a mapped severity; a resolved alert resolves it", async () => {
  const pd = fakePagerDuty();
  try {
    await using h = await channelHarness({
      channels: {
        oncall_pd: {
          type: "pagerduty",
          routing_key: "${env:PD_ROUTING_KEY}",
          api_url: pd.url,
        },
      },
      detector: {
        storm: { fingerprint: ["signature", "src_ip"], realert: "1ms" },
      },
      env: { PD_ROUTING_KEY: "0123456789abcdef0123456789abcdef" },
    });
    const firing = await h.ingest({
      signature: "ET SCAN Nmap",
      src_ip: "203.0.113.7",
      severity: "critical",
      status: "firing",
    });
    assert.equal(
      firing.channels?.[0]?.status,
      "delivered",
      String(firing.channels?.[0]?.error),
    );
    const resolved = await h.ingest({
      signature: "ET SCAN Nmap",
      src_ip: "203.0.113.7",
      severity: "critical",
      status: "resolved",
    });
    assert.equal(
      resolved.channels?.[0]?.status,
      "delivered",
      String(resolved.channels?.[0]?.error),
    );
    const [trigger, resolve] = pd.events as {
      event_action: string;
      dedup_key: string;
      payload?: Record<string, unknown>;
      links?: { href: string }[];
    }[];
    assert.equal(trigger!.event_action, "trigger");
    assert.equal(trigger!.payload!.severity, "critical");
    assert.equal(trigger!.payload!.source, "203.0.113.7");
    assert.match(
      String(trigger!.payload!.summary),
      /^IDS: ET SCAN Nmap from 203\.0\.113\.7/,
    );
    assert.match(
      trigger!.links![0]!.href,
      new RegExp(`/alerts/${firing.alert_id}$`),
    );
    assert.equal(resolve!.event_action, "resolve");
    assert.equal(
      resolve!.dedup_key,
      trigger!.dedup_key,
      "one incident: the same key",
    );
    assert.notEqual(
      trigger!.dedup_key,
      firing.alert_id,
      "the key is the fingerprint",
    );
    const [row] = await h.runtime.store.listDeliveries(firing.alert_id);
    assert.equal(row?.result?.dedup_key, trigger!.dedup_key);
  } finally {
    await pd.close();
  }
});

Deno.test("the fake Teams endpoint refuses what Teams refuses (so the tests above can fail)", async () => {
  const teams = fakeTeams();
  try {
    const url = `${teams.url}${WORKFLOW_PATH}?sig=${SIG}`;
    const send = (body: unknown) =>
      fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      }).then(async (r) => (await r.body?.cancel(), r.status));
    const cardWith = (extra: Record<string, unknown>) => ({
      type: "message",
      attachments: [{
        contentType: "application/vnd.microsoft.card.adaptive",
        content: { type: "AdaptiveCard", version: "1.4", body: [], ...extra },
      }],
    });
    assert.equal(await send(cardWith({})), 202);
    assert.equal(
      await send(
        cardWith({ actions: [{ type: "Action.Submit", title: "x" }] }),
      ),
      400,
    );
    assert.equal(
      await send({
        type: "message",
        attachments: [{
          contentType: "application/vnd.microsoft.teams.card.o365connector",
          content: {},
        }],
      }),
      400,
    );
    assert.equal(
      await send(
        cardWith({
          body: [{ type: "TextBlock", text: "z".repeat(29 * 1024) }],
        }),
      ),
      413,
    );
    const wrong = await fetch(`${teams.url}${WORKFLOW_PATH}?sig=nope`, {
      method: "POST",
      body: JSON.stringify(cardWith({})),
    });
    await wrong.body?.cancel();
    assert.equal(wrong.status, 401);
    assert.deepEqual(teams.refused, [
      "UnsupportedAction",
      "InvalidContentType",
      "MessageSizeExceeded",
      "DirectApiAuthorizationRequired",
    ]);
  } finally {
    await teams.close();
  }
});
