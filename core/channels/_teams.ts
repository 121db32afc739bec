/**
 * The `teams` channel: an Adaptive Card posted to a Teams Workflows "when a webhook request is
 * received" URL (Office 365 connectors are retired). Webhook cards cannot post back, so every button is
 * an `Action.OpenUrl` to the action's confirmation page (the email's flow) plus one to the alert page.
 * The whole request stays within Teams' 28 KB message limit: long values and summaries are shortened
 * step by step, then trailing sections dropped, and the card says it was shortened. The URL's `sig=`
 * is a secret, registered with the redactor when the config is loaded.
 *
 * @module
 */
import type { TeamsChannelConfig } from "../config/channels.ts";
import { clip } from "./message.ts";
import type { ChannelMessage } from "./model.ts";
import { postJson, withBase } from "./_http.ts";

/** Teams' limit on one message, in bytes of the request body. */
export const TEAMS_MAX_BYTES = 28 * 1024;

const COLORS: Record<string, string> = {
  critical: "attention",
  high: "attention",
  medium: "warning",
  low: "good",
};

/** Link syntax alert data must not use in a card (`[text](url)`): its brackets escaped. */
function plain(text: string): string {
  return text.replace(/([[\]])/g, "\\$1");
}

/** The request body for a message; `valueMax`/`keep` shorten it (see {@link teamsPayload}). */
function card(
  message: ChannelMessage,
  options: { valueMax: number; keep: number; truncated: boolean },
): Record<string, unknown> {
  const { valueMax, keep } = options;
  const severity = message.severity;
  const body: Record<string, unknown>[] = [
    {
      type: "TextBlock",
      text: plain(clip(
        `${message.kind === "resolved" ? "[resolved] " : ""}${
          message.title || message.subject
        }`,
        Math.max(valueMax, 200),
      )),
      size: "Large",
      weight: "Bolder",
      wrap: true,
      style: "heading",
    },
    {
      type: "TextBlock",
      text: [
        severity ? `Severity: ${severity.toUpperCase()}` : undefined,
        `Detector: ${plain(message.detector)}`,
        message.storm?.count ? `+${message.storm.count} similar` : undefined,
      ].filter(Boolean).join("  ·  "),
      color: severity ? COLORS[severity] ?? "default" : "default",
      weight: "Bolder",
      wrap: true,
    },
  ];
  const fields = message.fields.slice(0, keep);
  if (fields.length > 0) {
    body.push({
      type: "FactSet",
      facts: fields.map((f) => ({
        title: plain(clip(f.name, 100)),
        value: plain(clip(f.value, valueMax)),
      })),
    });
  }
  const enrichments = message.enrichments.slice(0, keep);
  if (enrichments.length > 0) {
    body.push({
      type: "TextBlock",
      text: "Enrichments",
      weight: "Bolder",
      spacing: "Medium",
    }, {
      type: "FactSet",
      facts: enrichments.map((e) => ({
        title: plain(clip(e.name, 100)),
        value: plain(clip(
          e.status === "ok" ? e.summary : `${e.status}: ${e.summary}`,
          valueMax,
        )),
      })),
    });
  }
  if (message.note) {
    body.push({
      type: "TextBlock",
      text: plain(message.note),
      isSubtle: true,
      wrap: true,
    });
  }
  if (options.truncated) {
    body.push({
      type: "TextBlock",
      text:
        "Shortened to fit Teams' 28 KB message limit: the alert page has everything.",
      isSubtle: true,
      wrap: true,
    });
  }
  return {
    type: "message",
    attachments: [{
      contentType: "application/vnd.microsoft.card.adaptive",
      contentUrl: null,
      content: {
        $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
        type: "AdaptiveCard",
        version: "1.4",
        msteams: { width: "Full" },
        body,
        actions: [
          ...message.actions.map((a) => ({
            type: "Action.OpenUrl",
            title: clip(a.label, 100),
            url: a.url,
          })),
          {
            type: "Action.OpenUrl",
            title: "Alert page",
            url: message.alert_url,
          },
        ],
      },
    }],
  };
}

/** The request body, shortened until it fits {@link TEAMS_MAX_BYTES}. */
export function teamsPayload(message: ChannelMessage): string {
  const size = (s: string) => new TextEncoder().encode(s).length;
  const full = JSON.stringify(
    card(message, { valueMax: 100_000, keep: 1_000, truncated: false }),
  );
  if (size(full) <= TEAMS_MAX_BYTES) return full;
  for (const valueMax of [500, 200, 80]) {
    for (const keep of [1_000, 40, 20, 10, 5, 2]) {
      const text = JSON.stringify(
        card(message, { valueMax, keep, truncated: true }),
      );
      if (size(text) <= TEAMS_MAX_BYTES) return text;
    }
  }
  return JSON.stringify(
    card(message, { valueMax: 40, keep: 0, truncated: true }),
  );
}

/** Posts the card to the workflow. */
export async function sendTeams(
  channel: TeamsChannelConfig,
  message: ChannelMessage,
): Promise<Record<string, unknown>> {
  const body = teamsPayload(message);
  const { status } = await postJson(
    withBase(channel.webhook_url, channel.api_url),
    body,
    {
      timeoutMs: channel.timeout,
      what: "Teams workflow",
    },
  );
  return { status, bytes: new TextEncoder().encode(body).length };
}
