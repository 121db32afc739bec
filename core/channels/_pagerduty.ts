/**
 * The `pagerduty` channel: PagerDuty Events API v2 (`POST {api_url}/v2/enqueue`, default
 * `https://events.pagerduty.com`). An alert is a `trigger` whose `dedup_key` is its storm fingerprint
 * when the detector has one (so PagerDuty merges repeats into one incident), else its alert id; an alert
 * whose `status` is `resolved` sends `resolve` for the same key. A storm group's email pages one
 * trigger per fingerprint of its batch (`queueNotice`'s `members`), so each resolve closes its own.
 * Severity maps critical → critical, high → error, medium → warning, low → info, and an alert without
 * a severity pages as `error`.
 *
 * @module
 */
import type { PagerDutyChannelConfig } from "../config/channels.ts";
import { clip } from "./message.ts";
import type { ChannelMessage } from "./model.ts";
import { postJson } from "./_http.ts";

const SEVERITY: Record<string, string> = {
  critical: "critical",
  high: "error",
  medium: "warning",
  low: "info",
};

/** The Events API v2 event for a message. */
export function pagerDutyEvent(
  routingKey: string,
  message: ChannelMessage,
): Record<string, unknown> {
  const dedupKey = clip(message.fingerprint ?? message.alert_id, 255);
  if (message.kind === "resolved") {
    return {
      routing_key: routingKey,
      event_action: "resolve",
      dedup_key: dedupKey,
    };
  }
  const alert = message.alert;
  const host = [alert.host, alert.hostname, alert.src_ip, alert.source_ip]
    .find((v) => typeof v === "string" && v.length > 0) as string | undefined;
  return {
    routing_key: routingKey,
    event_action: "trigger",
    dedup_key: dedupKey,
    payload: {
      summary: clip(message.subject || message.title, 1024),
      source: clip(host ?? `blitz/${message.detector}`, 255),
      severity: SEVERITY[message.severity ?? ""] ?? "error",
      timestamp: message.received_at,
      component: message.detector,
      group: "blitz",
      class: message.detector,
      custom_details: {
        alert_id: message.alert_id,
        ...Object.fromEntries(message.fields.map((f) => [f.name, f.value])),
        enrichments: Object.fromEntries(
          message.enrichments.map((e) => [e.name, e.summary]),
        ),
        ...(message.storm ? { similar: message.storm.count } : {}),
        actions: message.actions.map((a) => `${a.label}: ${a.url}`),
      },
    },
    links: [{ href: message.alert_url, text: "Alert in Blitz" }],
    client: "Blitz",
    client_url: message.alert_url,
  };
}

/** Sends the event; returns PagerDuty's dedup key. */
export async function sendPagerDuty(
  channel: PagerDutyChannelConfig,
  message: ChannelMessage,
): Promise<Record<string, unknown>> {
  const base = (channel.api_url ?? "https://events.pagerduty.com").replace(
    /\/+$/,
    "",
  );
  const event = pagerDutyEvent(channel.routing_key, message);
  const { text } = await postJson(`${base}/v2/enqueue`, JSON.stringify(event), {
    timeoutMs: channel.timeout,
    what: "PagerDuty",
  });
  let answer: { dedup_key?: unknown } = {};
  try {
    answer = JSON.parse(text);
  } catch {
    // a 202 without JSON: keep ours
  }
  return {
    event_action: event.event_action,
    dedup_key: typeof answer.dedup_key === "string"
      ? answer.dedup_key
      : event.dedup_key,
  };
}
