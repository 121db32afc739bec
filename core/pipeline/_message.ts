/**
 * The alert's email, rendered from the enriched alert: subject and title (templates, `{severity}`
 * included), the key fields an analyst reads first, the severity, the matched condition, the enrichments
 * that ran (disabled ones not at all, those of unmatched blocks in one quiet line), send results, the
 * reply buttons with signed action links and what each does, and the thread it belongs to.
 *
 * @module
 */
import type { LoadedDetector } from "../config/config.ts";
import { redactDeep } from "../secrets.ts";
import type {
  ActionResult,
  EnrichmentResult,
  StoredMessage,
} from "../store/store.ts";
import { fill } from "../template.ts";
import { headerSafe } from "../headers.ts";
import {
  buildChannelMessage,
  type ChannelMessage,
} from "../channels/message.ts";
import type { Level } from "../severity.ts";
import { renderAlertEmail } from "../../emails/render.ts";
import type { ActionStep } from "../config/schema.ts";
import { buttonLinks, messageIdOf, recipients } from "./_compose.ts";
import { type Thread, threadSubject } from "./_thread.ts";
import type { ComposeInput, Runtime } from "./_types.ts";

/** What the email is rendered from, besides the alert. */
export interface MessageInput extends ComposeInput {
  matched: boolean;
  enrichments: EnrichmentResult[];
  actions: ActionResult[];
  /** Placeholder values besides the alert: send actions' return_name values, `severity`. */
  values: Record<string, unknown>;
  /** The source of the condition block that matched (null: none, or unconditional). */
  condition?: string | null;
  /** Conditions that failed (over their budget, or an error), each `"<source>": <why>`. */
  conditionProblems?: string[];
  /** Enrichments not run because their block's condition did not match. */
  skipped?: string[];
  severity?: Level;
  thread?: Thread;
  /** Told of each placeholder the subject, title, a key field or a button left unfilled. */
  onMissing?: (where: string, placeholder: string) => void;
}

/** Renders the alert's email from the enriched alert and the values send actions passed to mail. */
export async function renderMessage(
  runtime: Pick<Runtime, "config" | "clock">,
  input: MessageInput,
): Promise<{ message: StoredMessage; channelMessage: () => ChannelMessage }> {
  const { detector, alert, alertId, enrichments, actions } = input;
  const { config } = runtime;
  const data = { ...alert, ...input.values };
  const filled = (where: string, template: string) => {
    const missing: string[] = [];
    const text = fill(template, data, { missing });
    for (const m of missing) input.onMissing?.(where, m);
    return text;
  };
  const own = headerSafe(filled("subject", detector.config.subject)) ||
    `Blitz alert from ${detector.name}`;
  const threaded = input.thread ? threadSubject(own, input.thread) : own;
  const subject = headerSafe(threaded + (input.subjectSuffix ?? ""));
  const title = detector.config.mail_title
    ? filled("mail_title", detector.config.mail_title)
    : threaded;
  const { to, cc } = recipients(config, detector);
  const keyFields = Object.entries(detector.config.key_fields).map((
    [label, template],
  ): [string, string] => [label, filled(`key_fields.${label}`, template)])
    .filter(([, value]) => value !== "");
  const buttons = await replyButtons(runtime, detector, {
    alertId,
    text: (template, i) => filled(`actions.reply[${i}]`, template),
    data,
  });
  const publicUrl = config.global.public_url.replace(/\/+$/, "");
  const sendResults = actions.filter((a) => a.status === "ok").map((a) => ({
    name: a.return_name ?? a.name,
    value: a.value,
  }));
  const failed = (input.conditionProblems ?? []).map((p) => `condition ${p}`);
  const conditionNote = [
    ...(input.matched ? [] : ["No enrichment condition matched this alert"]),
    ...failed,
  ].join("; ");
  const { html, text } = renderAlertEmail({
    title,
    subject,
    detector: detector.name,
    alertId,
    alertUrl: `${publicUrl}/alerts/${encodeURIComponent(alertId)}`,
    receivedAt: input.receivedAt,
    ...(input.severity ? { severity: input.severity } : {}),
    keyFields,
    ...(input.condition ? { condition: input.condition } : {}),
    ...(conditionNote ? { conditionNote } : {}),
    // Disabled entries (`enabled: false`) were not run and are not shown.
    enrichments: enrichments.filter((e) => e.status !== "skipped").map((
      e,
    ) => ({
      name: e.name,
      status: e.status,
      ms: e.ms,
      ...(e.data !== undefined ? { data: e.data } : {}),
      ...(e.error !== undefined ? { error: e.error } : {}),
    })),
    notRun: input.skipped ?? [],
    sendResults,
    ...(detector.config.include_json ? { alertJson: redactDeep(alert) } : {}),
    buttons: buttons.map(({ label, color, href, description }) => ({
      label,
      color,
      href,
      description,
    })),
  });
  // The same buttons (same tokens: a click in one place uses up the other) for every other channel.
  let built: ChannelMessage | undefined;
  const channelMessage = () =>
    built ??= buildChannelMessage({
      alertId,
      detector: detector.name,
      title,
      subject,
      receivedAt: input.receivedAt,
      publicUrl: config.global.public_url,
      alert,
      enrichments,
      sendResults,
      buttons,
      ...(conditionNote ? { note: conditionNote } : {}),
      ...(input.severity ? { severity: input.severity } : {}),
    });
  const parent = input.thread?.parent;
  const message: StoredMessage = {
    from: headerSafe(config.global.from_email),
    to,
    cc,
    subject,
    html,
    text,
    message_id: messageIdOf(config, alertId),
    headers: {
      "X-Blitz-Alert-Id": alertId,
      "X-Blitz-Detector": detector.name,
      ...(input.severity ? { "X-Blitz-Severity": input.severity } : {}),
    },
    ...(parent
      ? { in_reply_to: parent.inReplyTo, references: parent.references }
      : {}),
  };
  return { message, channelMessage };
}

/**
 * The detector's reply buttons with signed links (`buttonLinks`) and what each does. Labels and
 * descriptions are templates (`Block {src_ip}`); the token's tag is over the configured label.
 */
async function replyButtons(
  runtime: Pick<Runtime, "config" | "clock">,
  detector: LoadedDetector,
  options: {
    alertId: string;
    text: (template: string, i: number) => string;
    data: Record<string, unknown>;
  },
): Promise<
  {
    label: string;
    color: string;
    href: string;
    token: string;
    description: string;
  }[]
> {
  const reply = detector.config.actions.reply;
  const links = await buttonLinks(
    runtime,
    options.alertId,
    reply.map((button, index) => ({ index, button })),
    options.text,
  );
  return links.map((link, i) => {
    const button = reply[i]!;
    return {
      ...link,
      description: button.config.description !== undefined
        ? options.text(button.config.description, i)
        : describeSteps(button.config.actions, options.data),
    };
  });
}

/** What a button's steps do, in a line: `jira_create, then http_request POST fw.example.org`. */
export function describeSteps(
  steps: ActionStep[],
  data: Record<string, unknown>,
): string {
  const parts = steps.filter((s) => s.config.enabled).map((step) => {
    const { url, method, to } = step.config as Record<string, unknown>;
    let where = "";
    if (typeof url === "string") {
      try {
        where = ` ${
          typeof method === "string" ? method.toUpperCase() : "GET"
        } ${new URL(url.replace(/\{[^}]*\}/g, "x")).host}`;
      } catch {
        where = "";
      }
    } else if (typeof to === "string" || Array.isArray(to)) {
      where = ` to ${fill([to].flat().join(", "), data)}`;
    }
    return `${step.name}${where}`;
  });
  return parts.length ? `Runs ${parts.join(", then ")}` : "Runs nothing";
}
