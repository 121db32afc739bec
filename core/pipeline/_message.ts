/**
 * The alert's email, rendered from the enriched alert: subject and title (templates, `{severity}`
 * included), the key fields an analyst reads first, the severity, the matched condition, the enrichments
 * that ran (disabled ones not at all, those of unmatched blocks in one quiet line), send results, the
 * reply buttons with signed action links and what each does, and the thread it belongs to.
 *
 * @module
 */
import { colorOf, type LoadedDetector } from "../config/config.ts";
import { redactDeep } from "../secrets.ts";
import type {
  ActionResult,
  EnrichmentResult,
  StoredMessage,
} from "../store/store.ts";
import { fill } from "../template.ts";
import { headerSafe } from "../headers.ts";
import { signActionToken } from "../auth/tokens.ts";
import type { Level } from "../severity.ts";
import { renderAlertEmail } from "../../emails/render.ts";
import type { ActionStep } from "../config/schema.ts";
import { actionLink, messageIdOf, recipients } from "./_compose.ts";
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
  /** Enrichments not run because their block's condition did not match. */
  skipped?: string[];
  severity?: Level;
  thread?: Thread;
  /** Told of each placeholder the subject, title, a key field or a button left unfilled. */
  onMissing?: (where: string, placeholder: string) => void;
}

/** Renders the alert's email from the enriched alert and the values send actions passed to mail. */
export async function renderMessage(
  runtime: Runtime,
  input: MessageInput,
): Promise<StoredMessage> {
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
    ...(input.matched
      ? {}
      : { conditionNote: "No enrichment condition matched this alert" }),
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
    sendResults: actions.filter((a) => a.status === "ok").map((a) => ({
      name: a.return_name ?? a.name,
      value: a.value,
    })),
    ...(detector.config.include_json ? { alertJson: redactDeep(alert) } : {}),
    buttons,
  });
  const parent = input.thread?.parent;
  return {
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
}

/**
 * The detector's reply buttons, each linking to a signed action token (no link without a key), with
 * what it does. Labels and descriptions are templates (`Block {src_ip}`); the token's label tag is over
 * the configured label, not the filled one.
 */
function replyButtons(
  runtime: Runtime,
  detector: LoadedDetector,
  options: {
    alertId: string;
    text: (template: string, i: number) => string;
    data: Record<string, unknown>;
  },
): Promise<
  { label: string; color: string; href: string; description: string }[]
> {
  const { alertId } = options;
  const { config } = runtime;
  const expiresAt = (runtime.clock?.() ?? new Date()).getTime() +
    config.global.action_link_ttl;
  const key = config.global.action_keys[0];
  return Promise.all(
    detector.config.actions.reply.map(async (button, i) => ({
      label: options.text(button.name, i),
      color: colorOf(config.global, button.config.color),
      description: button.config.description !== undefined
        ? options.text(button.config.description, i)
        : describeSteps(button.config.actions, options.data),
      href: key
        ? actionLink(
          config,
          await signActionToken({
            alertId,
            button: i,
            buttonLabel: button.name,
            expiresAt,
          }, key),
        )
        : "",
    })),
  );
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
