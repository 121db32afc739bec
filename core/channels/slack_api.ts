/**
 * The Slack Web API calls Blitz makes, through the official `@slack/web-api` client (loaded only when a
 * Slack channel is used): `chat.postMessage`, `chat.update`, `chat.postEphemeral` and `users.info`.
 * The client's own retries are off and rate-limited calls are rejected: the channel outbox retries, and a
 * `429`'s `Retry-After` becomes the earliest time of the next attempt. Slack's errors become
 * {@link ChannelError}s: rate limits, HTTP 5xx and network errors are transient; platform errors
 * (`invalid_auth`, `channel_not_found`, …) are not.
 *
 * @module
 */
import { LogLevel, WebClient } from "@slack/web-api";
import type { SlackChannelConfig } from "../config/channels.ts";
import { errorMessage } from "../errors.ts";
import { redact } from "../secrets.ts";
import { ChannelError } from "./_http.ts";

/** A chat message: fallback text, top-level blocks and coloured attachments. */
export interface SlackMessage {
  text: string;
  blocks?: Record<string, unknown>[];
  attachments?: Record<string, unknown>[];
}

function client(channel: SlackChannelConfig): WebClient {
  const base = (channel.api_url ?? "https://slack.com/api/").replace(
    /\/*$/,
    "/",
  );
  return new WebClient(channel.token, {
    slackApiUrl: base,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: channel.timeout,
    logLevel: LogLevel.ERROR,
    allowAbsoluteUrls: false,
  });
}

/** `chat.postMessage` to the channel's `channel`; returns where it went (for `chat.update`). */
export async function postSlackMessage(
  channel: SlackChannelConfig,
  message: SlackMessage,
): Promise<{ channel: string; ts: string }> {
  try {
    const res = await client(channel).chat.postMessage({
      channel: channel.channel,
      text: message.text,
      ...(message.blocks ? { blocks: message.blocks as never } : {}),
      ...(message.attachments
        ? { attachments: message.attachments as never }
        : {}),
      unfurl_links: false,
      unfurl_media: false,
    });
    return { channel: String(res.channel), ts: String(res.ts) };
  } catch (err) {
    throw slackError("chat.postMessage", err);
  }
}

/** `chat.update` of a posted message. */
export async function updateSlackMessage(
  channel: SlackChannelConfig,
  target: { channel: string; ts: string },
  message: SlackMessage,
): Promise<void> {
  try {
    await client(channel).chat.update({
      channel: target.channel,
      ts: target.ts,
      text: message.text,
      ...(message.blocks ? { blocks: message.blocks as never } : {}),
      ...(message.attachments
        ? { attachments: message.attachments as never }
        : {}),
    });
  } catch (err) {
    throw slackError("chat.update", err);
  }
}

/** `chat.postEphemeral`: a line only `user` sees (a refused or repeated click). Never throws. */
export async function postSlackEphemeral(
  channel: SlackChannelConfig,
  target: { channel: string; user: string; text: string },
): Promise<void> {
  try {
    await client(channel).chat.postEphemeral({
      channel: target.channel,
      user: target.user,
      text: target.text,
    });
  } catch {
    // best effort: the click's outcome is recorded either way
  }
}

/** The user's email through `users.info` (needs `users:read.email`); undefined when not allowed. */
export async function slackUserEmail(
  channel: SlackChannelConfig,
  user: string,
): Promise<string | undefined> {
  try {
    const res = await client(channel).users.info({ user });
    const email = res.user?.profile?.email;
    return typeof email === "string" && email ? email : undefined;
  } catch {
    return undefined; // missing scope or a slow API: the actor is the Slack user id and name
  }
}

/** A Slack client error as a {@link ChannelError}. */
function slackError(method: string, err: unknown): ChannelError {
  const e = err as {
    code?: string;
    retryAfter?: number;
    statusCode?: number;
    data?: { error?: string };
  };
  if (e.code === "slack_webapi_rate_limited_error") {
    return new ChannelError(`Slack ${method} rate limited`, {
      transient: true,
      retryAfterMs: (e.retryAfter ?? 1) * 1000,
      cause: err,
    });
  }
  if (e.code === "slack_webapi_platform_error") {
    const code = e.data?.error ?? "error";
    const transient =
      /^(internal_error|fatal_error|service_unavailable|request_timeout|ratelimited)$/
        .test(code);
    return new ChannelError(`Slack ${method} failed: ${code}`, {
      transient,
      cause: err,
    });
  }
  if (e.code === "slack_webapi_http_error") {
    return new ChannelError(`Slack ${method} answered HTTP ${e.statusCode}`, {
      transient: (e.statusCode ?? 500) >= 500 || e.statusCode === 408,
      cause: err,
    });
  }
  return new ChannelError(
    `Slack ${method} unreachable: ${redact(errorMessage(err))}`,
    { transient: true, cause: err },
  );
}
