/**
 * The `slack` channel's message: Block Kit inside an attachment coloured by severity (title, severity
 * and detector, key fields, enrichment summaries, the note), then one button per reply action. With a
 * `signing_secret` a button's `value` is the action's signed single-use token (the same one as the
 * email's button), posted back to `/slack/interactions`; without one the buttons are URL buttons to the
 * confirmation page, the same flow as the email. Slack's limits are kept: at most 50 blocks, unique
 * `action_id`s, button text ≤ 75 characters, value ≤ 2000, section text ≤ 3000, header ≤ 150.
 *
 * After a button ran, the message is rebuilt with that button replaced by its outcome
 * ("Create JIRA — done by @alice: SOC-12") and sent with `chat.update` (its own outbox entry).
 *
 * Alert text goes out as mrkdwn with `&`, `<` and `>` escaped, so alert data cannot mention `@channel`
 * or forge a link.
 *
 * @module
 */
import type { ActionRun } from "../store/store.ts";
import { clip } from "./message.ts";
import type { ChannelMessage } from "./model.ts";
import type { SlackMessage } from "./slack_api.ts";

const COLORS: Record<string, string> = {
  critical: "#b71c1c",
  high: "#e65100",
  medium: "#f9a825",
  low: "#2e7d32",
};
const NO_SEVERITY = "#5c7080";
const MAX_BLOCKS = 50;

/** Escapes Slack mrkdwn control characters. */
export function mrkdwn(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(
    ">",
    "&gt;",
  );
}

/** The Slack message of an alert; `runs` (after a click) replace their buttons by outcome lines. */
export function slackMessage(
  message: ChannelMessage,
  options: { interactive: boolean; runs?: ActionRun[] },
): SlackMessage {
  const severity = message.severity;
  const title = `${message.kind === "resolved" ? "[resolved] " : ""}${
    message.title || message.subject
  }`;
  const blocks: Record<string, unknown>[] = [
    {
      type: "header",
      text: { type: "plain_text", text: clip(title, 150), emoji: false },
    },
    {
      type: "section",
      text: {
        type: "mrkdwn",
        text: clip(
          [
            severity ? `*Severity:* ${severity.toUpperCase()}` : undefined,
            `*Detector:* ${mrkdwn(message.detector)}`,
            `<${message.alert_url}|Alert page>`,
            message.storm?.count
              ? `+${message.storm.count} similar`
              : undefined,
          ].filter(Boolean).join("  ·  "),
          3000,
        ),
      },
    },
  ];
  if (message.fields.length > 0) {
    blocks.push({
      type: "section",
      fields: message.fields.slice(0, 10).map((f) => ({
        type: "mrkdwn",
        text: clip(`*${mrkdwn(f.name)}*\n${mrkdwn(f.value) || " "}`, 2000),
      })),
    });
  }
  if (message.enrichments.length > 0) {
    blocks.push({
      type: "section",
      text: {
        type: "mrkdwn",
        text: clip(
          message.enrichments.map((e) =>
            `*${mrkdwn(e.name)}*${e.status === "ok" ? "" : ` (${e.status})`}: ${
              mrkdwn(e.summary)
            }`
          ).join("\n"),
          3000,
        ),
      },
    });
  }
  if (message.note) {
    blocks.push({
      type: "context",
      elements: [{ type: "mrkdwn", text: clip(mrkdwn(message.note), 3000) }],
    });
  }
  const done = new Map<string, ActionRun>();
  for (const run of options.runs ?? []) done.set(run.button, run);
  const outcomes = message.actions.filter((a) => done.has(a.label));
  if (outcomes.length > 0) {
    blocks.push({
      type: "section",
      text: {
        type: "mrkdwn",
        text: clip(
          outcomes.map((a) => outcomeLine(a.label, done.get(a.label)!)).join(
            "\n",
          ),
          3000,
        ),
      },
    });
  }
  const buttons = message.actions
    .map((action, i) => ({ action, i }))
    .filter(({ action }) => !done.has(action.label))
    .map(({ action, i }) => ({
      type: "button",
      action_id: `blitz_action_${i}`,
      text: { type: "plain_text", text: clip(action.label, 75), emoji: false },
      ...(options.interactive ? { value: action.token } : { url: action.url }),
      ...(/^#?(c23030|d9822b)$/i.test(action.color) ? { style: "danger" } : {}),
    }));
  for (let i = 0; i < buttons.length; i += 25) {
    blocks.push({
      type: "actions",
      block_id: `blitz_actions_${i / 25}`,
      elements: buttons.slice(i, i + 25),
    });
  }
  const text = clip(
    `${severity ? `[${severity.toUpperCase()}] ` : ""}${title}`,
    3000,
  );
  return {
    text,
    attachments: [{
      color: severity ? COLORS[severity] ?? NO_SEVERITY : NO_SEVERITY,
      fallback: text,
      blocks: blocks.slice(0, MAX_BLOCKS),
    }],
  };
}

/** "✅ *Create JIRA* — done by @alice: SOC-12" */
export function outcomeLine(label: string, run: ActionRun): string {
  // A Slack actor is "@name (U…, email)": chat shows the @name; others as recorded.
  const who = mrkdwn(
    run.actor_source === "slack"
      ? run.actor.split(" ")[0] ?? run.actor
      : run.actor,
  );
  if (run.status === "running") {
    return `:hourglass_flowing_sand: *${mrkdwn(label)}* — running (${who})`;
  }
  if (run.status === "ok") {
    const values = run.steps
      .filter((s) =>
        s.status === "ok" &&
        (typeof s.value === "string" || typeof s.value === "number")
      )
      .map((s) => String(s.value));
    return `:white_check_mark: *${mrkdwn(label)}* — done by ${who}${
      values.length ? `: ${mrkdwn(clip(values.join(", "), 500))}` : ""
    }`;
  }
  const failed = run.steps.find((s) => s.status !== "ok");
  return `:x: *${mrkdwn(label)}* — failed (${who})${
    failed?.error ? `: ${mrkdwn(clip(failed.error, 500))}` : ""
  }`;
}
