/**
 * The details of composing an alert: which condition block applies, the settings each plugin sees,
 * running the block's enrichments, and the email (recipients, reply buttons with signed action links,
 * the Message-ID) rendered from the enriched alert.
 *
 * @module
 */
import {
  colorOf,
  type EnrichmentBlock,
  type LoadedConfig,
  type LoadedDetector,
} from "../config/config.ts";
import { runEnrichments } from "./enrich.ts";
import { errorMessage } from "../plugins/call.ts";
import { redactDeep } from "../secrets.ts";
import type {
  ActionResult,
  EnrichmentResult,
  StoredMessage,
} from "../store/store.ts";
import { fill } from "../template.ts";
import { headerSafe } from "../headers.ts";
import { signActionToken } from "../auth/tokens.ts";
import { renderAlertEmail } from "../../emails/render.ts";
import type { ComposeInput, Runtime } from "./_types.ts";
import type { ConfigReads } from "../plugin.ts";
import {
  buildChannelMessage,
  type ChannelMessage,
} from "../channels/message.ts";

/** A plugin's `ctx.settings`: the shareable config its `reads` names, then `plugins.<name>` over it. */
export function settingsFor(
  config: LoadedConfig,
  detector: LoadedDetector,
  plugin: { name: string; reads?: ConfigReads | undefined },
): Record<string, unknown> {
  const shared: Record<string, unknown> = {};
  for (const key of plugin.reads?.global ?? []) {
    shared[key] = config.global[key];
  }
  for (const key of plugin.reads?.detector ?? []) {
    shared[key] = detector.config[key];
  }
  return { ...shared, ...config.global.plugins[plugin.name] };
}

/** Global recipients plus the detector's `mailers` (or only those with `override`), deduplicated. */
export function recipients(
  config: LoadedConfig,
  detector: LoadedDetector,
): { to: string[]; cc: string[] } {
  const { mailers } = detector.config;
  const to = mailers.override
    ? mailers.to
    : [...config.global.to, ...mailers.to];
  const cc = mailers.override
    ? mailers.cc
    : [...config.global.cc, ...mailers.cc];
  const seen = new Set<string>();
  const unique = (list: string[]) =>
    list.map(headerSafe).filter((a) => {
      const key = a.toLowerCase();
      if (!a || seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  const uniqueTo = unique(to);
  return { to: uniqueTo, cc: unique(cc) };
}

/** `{public_url}/actions/<token>`: the one place action links are made (never from a Host header). */
export function actionLink(config: LoadedConfig, token: string): string {
  return `${config.global.public_url.replace(/\/+$/, "")}/actions/${token}`;
}

/** The Message-ID of an alert's email: `<alert_id@host of public_url>`. */
export function messageIdOf(config: LoadedConfig, alertId: string): string {
  return `<${alertId}@${new URL(config.global.public_url).hostname}>`;
}

/** The first condition block the alert matches (the first block when enrichment is unconditional). */
export function selectBlock(
  runtime: Runtime,
  detector: LoadedDetector,
  alert: Record<string, unknown>,
  alertId: string,
): { block: EnrichmentBlock | undefined; matched: boolean } {
  // With enrichment off there are no conditions to match: the alert is sent as it is.
  if (!detector.config.enrichment_conditional || !detector.config.enrichment) {
    return { block: detector.blocks[0], matched: true };
  }
  for (const block of detector.blocks) {
    try {
      if (block.condition?.matches(alert)) return { block, matched: true };
    } catch (err) {
      runtime.log("condition_error", {
        alert_id: alertId,
        detector: detector.name,
        condition: block.condition?.source,
        error: errorMessage(err),
      });
    }
  }
  return { block: undefined, matched: false };
}

/** Runs a block's enrichments concurrently, redacts their results and logs the outcome. */
export async function enrich(
  runtime: Runtime,
  detector: LoadedDetector,
  block: EnrichmentBlock | undefined,
  input: {
    alert: Record<string, unknown>;
    alertId: string;
    /** Told of each placeholder an entry's `e_args` left unfilled. */
    onMissing?: (where: string, placeholder: string) => void;
  },
): Promise<EnrichmentResult[]> {
  const { alert, alertId } = input;
  const { config } = runtime;
  const enrichments = redactDeep(
    await runEnrichments(block?.entries ?? [], {
      alert,
      alertId,
      detector: detector.name,
      registry: runtime.registry,
      cache: runtime.cache,
      settingsFor: (plugin) => settingsFor(config, detector, plugin),
      defaults: {
        timeoutMs: config.global.enrichment_timeout,
        ttlMs: config.global.enrichment_ttl,
      },
      ...(runtime.invoker ? { invoker: runtime.invoker } : {}),
      ...(input.onMissing ? { onMissing: input.onMissing } : {}),
      onResult: (r) => runtime.onEnrichment?.(detector.name, r),
    }),
  );
  runtime.log("enriched", {
    alert_id: alertId,
    detector: detector.name,
    enrichments: enrichments.map((e) => `${e.name}:${e.status}`).join(","),
  });
  return enrichments;
}

/** Renders the alert's email from the enriched alert and the values send actions passed to mail. */
export async function renderMessage(
  runtime: Runtime,
  input: ComposeInput & {
    matched: boolean;
    enrichments: EnrichmentResult[];
    actions: ActionResult[];
    values: Record<string, unknown>;
    /** Told of each placeholder the subject, title or a button label left unfilled. */
    onMissing?: (where: string, placeholder: string) => void;
  },
): Promise<{ message: StoredMessage; channelMessage: ChannelMessage }> {
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
  const subject = headerSafe(own + (input.subjectSuffix ?? ""));
  const title = detector.config.mail_title
    ? filled("mail_title", detector.config.mail_title)
    : own;
  const { to, cc } = recipients(config, detector);
  const buttons = await replyButtons(runtime, detector, {
    alertId,
    label: (template, i) => filled(`actions.reply[${i}] label`, template),
  });
  const sendResults = actions.filter((a) => a.status === "ok").map((a) => ({
    name: a.return_name ?? a.name,
    value: a.value,
  }));
  const conditionNote = "No enrichment condition matched this alert";
  const { html, text } = renderAlertEmail({
    title,
    subject,
    detector: detector.name,
    alertId,
    receivedAt: input.receivedAt,
    ...(input.matched ? {} : { conditionNote }),
    enrichments: enrichments.map((e) => ({
      name: e.name,
      status: e.status,
      ms: e.ms,
      ...(e.data !== undefined ? { data: e.data } : {}),
      ...(e.error !== undefined ? { error: e.error } : {}),
    })),
    sendResults,
    ...(detector.config.include_json ? { alertJson: redactDeep(alert) } : {}),
    buttons: buttons.map(({ label, color, href }) => ({ label, color, href })),
  });
  // The same buttons (same tokens: a click in one place uses up the other) for every other channel.
  const channelMessage = buildChannelMessage({
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
    ...(input.matched ? {} : { note: conditionNote }),
  });
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
    },
  };
  return { message, channelMessage };
}

/**
 * The detector's reply buttons, each linking to a signed action token (no link without a key). Labels
 * are templates (`Block {src_ip}`); the token's label tag is over the configured label, not the filled one.
 */
function replyButtons(
  runtime: Runtime,
  detector: LoadedDetector,
  options: { alertId: string; label: (template: string, i: number) => string },
): Promise<{ label: string; color: string; href: string; token: string }[]> {
  return buttonLinks(
    runtime,
    options.alertId,
    detector.config.actions.reply.map((button, index) => ({ index, button })),
    options.label,
  );
}

/**
 * Buttons of an alert, each linking to a signed action token for its index (the detector's reply
 * buttons by position, storm control's own by their reserved index); no link without a key. `label`
 * fills a label template; the token's tag is over the configured label.
 */
export function buttonLinks(
  runtime: Runtime,
  alertId: string,
  buttons: {
    index: number;
    button: { name: string; config: { color: string } };
  }[],
  label: (template: string, i: number) => string = (template) => template,
): Promise<{ label: string; color: string; href: string; token: string }[]> {
  const { config } = runtime;
  const expiresAt = (runtime.clock?.() ?? new Date()).getTime() +
    config.global.action_link_ttl;
  const key = config.global.action_keys[0];
  return Promise.all(
    buttons.map(async ({ index, button }) => {
      const token = key
        ? await signActionToken({
          alertId,
          button: index,
          buttonLabel: button.name,
          expiresAt,
        }, key)
        : "";
      return {
        label: label(button.name, index),
        color: colorOf(config.global, button.config.color),
        href: token ? actionLink(config, token) : "",
        token,
      };
    }),
  );
}
