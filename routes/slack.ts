/**
 * `POST /slack/interactions`: Slack's interactivity Request URL (SECURITY.md 19). The checks, cheapest
 * first and all before the body is parsed:
 *
 * 1. a Slack channel with a `signing_secret` exists (else 404);
 * 2. `X-Slack-Request-Timestamp` is within 5 minutes of now, from the header alone (else 401: a replay);
 * 3. the raw body (at most 64 KiB) is signed: `X-Slack-Signature` v0, constant time, against each
 *    channel's secret (else 401).
 *
 * Then the `payload` field is parsed. A `block_actions` click carries the action's signed single-use
 * token as the button's `value`: it is verified like the email's link (expiry, key, MAC, button), the
 * Slack user is checked against the channel's `allowed_users`, and the token's nonce is consumed in the
 * store exactly as the confirmation page's POST does, so a double click or a Slack retry
 * (`X-Slack-Retry-Num`) runs the steps once. Slack gets its 200 at once; the steps run in the background
 * (`runButton`), which records the run, sends the follow-up email and queues the `chat.update` that
 * replaces the button by "Create JIRA — done by @alice: SOC-12". Refusals are told to the clicking user
 * only (`chat.postEphemeral`).
 *
 * The actor is the Slack user: `@name (U…, email)`, the email from `users.info` when the app has
 * `users:read.email` (looked up within a second, else left out).
 *
 * @module
 */
import { Hono } from "hono";
import type { Runtime } from "../core/pipeline/pipeline.ts";
import type { SlackChannelConfig } from "../core/config/channels.ts";
import { slackSigner, slackTimestampFresh } from "../core/auth/slack.ts";
import { buttonLabel, runButton } from "../core/pipeline/button.ts";
import { publicError } from "../core/secrets.ts";
import { headerSafe } from "../core/headers.ts";
import { importLazy } from "../core/lazy.ts";
import { readBody } from "./http/body.ts";
import { PageError, resolveTarget } from "./_action_target.ts";

/** What the Slack route uses of the app's dependencies (`AppDeps` satisfies it). */
export interface SlackRouteDeps {
  runtime: Runtime;
  /** Clock in epoch ms (timestamp window, token expiry, audit times). @default Date.now */
  now?: () => number;
}

const MAX_BODY_BYTES = 64 * 1024;
const EMAIL_LOOKUP_MS = 1_000;

type SlackApi = typeof import("../core/channels/slack_api.ts");

/** Builds the `/slack/interactions` route. */
export function slackRoutes(deps: SlackRouteDeps): Hono {
  const app = new Hono();
  const now = deps.now ?? Date.now;
  const log = deps.runtime.log;

  app.post("/slack/interactions", async (c) => {
    const channels = [...deps.runtime.config.channels.values()].filter((
      ch,
    ): ch is SlackChannelConfig & { name: string } =>
      !ch.plugin && ch.type === "slack" && ch.signing_secret !== undefined
    );
    if (channels.length === 0) return c.json({ error: "Not found" }, 404);
    const timestamp = c.req.header("x-slack-request-timestamp");
    if (!slackTimestampFresh(timestamp, now())) {
      log("slack_refused", { reason: "stale_or_missing_timestamp" });
      return c.json({ error: "Stale or missing request timestamp" }, 401);
    }
    const body = await readBody(c.req.raw, {
      maxBytes: MAX_BODY_BYTES,
      timeoutMs: 10_000,
    });
    const signer = slackSigner(
      channels.map((ch) => ch.signing_secret!),
      {
        timestamp: timestamp!,
        signature: c.req.header("x-slack-signature") ?? "",
        body,
      },
    );
    if (signer === -1) {
      log("slack_refused", { reason: "bad_signature" });
      return c.json({ error: "Bad signature" }, 401);
    }
    const channel = channels[signer]!;
    const click = parseClick(body);
    if (!click) return c.body(null, 200); // another kind of interaction: nothing to do
    const retry = c.req.header("x-slack-retry-num") !== undefined;
    handleClick(deps, channel, click, { now, retry }).catch((err) =>
      log("slack_error", { error: publicError(err) })
    );
    return c.body(null, 200);
  });

  return app;
}

/** A button click, as far as Blitz reads it. */
interface Click {
  token: string;
  user: { id: string; name: string };
  /** Where the message is (for ephemeral answers). */
  channelId?: string;
}

/** The click in a `block_actions` payload, or undefined for anything else. */
function parseClick(body: Uint8Array): Click | undefined {
  let payload: unknown;
  try {
    const form = new URLSearchParams(new TextDecoder().decode(body));
    payload = JSON.parse(form.get("payload") ?? "null");
  } catch {
    return undefined;
  }
  const p = payload as {
    type?: unknown;
    user?: { id?: unknown; username?: unknown; name?: unknown };
    actions?: { value?: unknown }[];
    channel?: { id?: unknown };
    container?: { channel_id?: unknown };
  } | null;
  const token = p?.actions?.[0]?.value;
  const id = p?.user?.id;
  if (
    p?.type !== "block_actions" || typeof token !== "string" ||
    typeof id !== "string"
  ) return undefined;
  const name = typeof p.user?.username === "string"
    ? p.user.username
    : typeof p.user?.name === "string"
    ? p.user.name
    : id;
  const channelId = p.channel?.id ?? p.container?.channel_id;
  return {
    token,
    user: {
      id: headerSafe(id).slice(0, 40),
      name: headerSafe(name).slice(0, 80),
    },
    ...(typeof channelId === "string" ? { channelId } : {}),
  };
}

/**
 * After the 200: resolves the token, checks the user, consumes the nonce, runs the steps. A refusal
 * or a repeat is told to the user alone.
 */
async function handleClick(
  deps: SlackRouteDeps,
  channel: SlackChannelConfig & { name: string },
  click: Click,
  options: { now: () => number; retry: boolean },
): Promise<void> {
  const { runtime } = deps;
  const api = await importLazy<SlackApi>("core/channels/slack_api.ts");
  const tell = (text: string) =>
    click.channelId
      ? api.postSlackEphemeral(channel, {
        channel: click.channelId,
        user: click.user.id,
        text,
      })
      : Promise.resolve();
  if (channel.allowed_users && !channel.allowed_users.includes(click.user.id)) {
    runtime.log("slack_refused", {
      reason: "user_not_allowed",
      channel: channel.name,
      slack_user: click.user.id,
    });
    await tell("You are not allowed to run Blitz actions from Slack.");
    return;
  }
  let target;
  try {
    target = await resolveTarget(runtime, click.token, options.now());
  } catch (err) {
    if (!(err instanceof PageError)) throw err;
    runtime.log("action_refused", {
      via: "slack",
      status: err.status,
      reason: err.reason,
    });
    await tell(`${err.title}: ${err.message}`);
    return;
  }
  let timer: number | undefined;
  const email = await Promise.race([
    api.slackUserEmail(channel, click.user.id),
    new Promise<undefined>((r) => timer = setTimeout(r, EMAIL_LOOKUP_MS)),
  ]).finally(() => clearTimeout(timer));
  const actor = `@${click.user.name} (${click.user.id}${
    email ? `, ${email}` : ""
  })`;
  const { run, created } = await runtime.store.consumeNonce({
    nonce: target.claims.nonce,
    alert_id: target.record.id,
    button: await buttonLabel(target),
    actor,
    actor_source: "slack",
    user_agent: `Slack (${channel.name})`,
    started_at: new Date(options.now()).toISOString(),
    status: "running",
    steps: [],
  });
  if (!created) {
    runtime.log("action_replay", {
      via: "slack",
      alert_id: target.record.id,
      button: run.button,
      first_actor: run.actor,
      slack_retry: options.retry,
    });
    if (!options.retry) {
      await tell(
        `"${run.button}" was already run by ${run.actor} at ${run.started_at}.`,
      );
    }
    return;
  }
  await runButton(runtime, target, { run, now: options.now });
}
