/**
 * The `webhook` channel: a JSON document about the alert (its fields, severity, enrichments, storm
 * counts, action links), signed with the Standard Webhooks scheme (standardwebhooks.com): headers
 * `webhook-id` (the same on every retry of one delivery), `webhook-timestamp` (Unix seconds of this
 * attempt) and `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the
 * bytes that the `whsec_<base64>` secret encodes. Any Standard Webhooks library verifies it.
 *
 * @module
 */
import { stringifyJson } from "../json.ts";
import type { WebhookChannelConfig } from "../config/channels.ts";
import type { ChannelMessage } from "./model.ts";
import { postJson, withBase } from "./_http.ts";

/** The signature headers of one webhook message. */
export async function signWebhook(
  secret: string,
  message: { id: string; timestamp: number; body: string },
): Promise<Record<string, string>> {
  const key = await crypto.subtle.importKey(
    "raw",
    decodeBase64(secret.replace(/^whsec_/, "")),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const signed = `${message.id}.${message.timestamp}.${message.body}`;
  const mac = new Uint8Array(
    await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(signed)),
  );
  return {
    "webhook-id": message.id,
    "webhook-timestamp": String(message.timestamp),
    "webhook-signature": `v1,${encodeBase64(mac)}`,
  };
}

/** The JSON document a webhook receives. */
export function webhookDocument(
  message: ChannelMessage,
  event: string,
): Record<string, unknown> {
  return {
    type: `blitz.${message.kind}`,
    event,
    alert_id: message.alert_id,
    detector: message.detector,
    title: message.title,
    subject: message.subject,
    severity: message.severity ?? null,
    status: message.kind === "resolved" ? "resolved" : "firing",
    received_at: message.received_at,
    alert_url: message.alert_url,
    fingerprint: message.fingerprint ?? null,
    storm: message.storm ?? null,
    fields: message.fields,
    enrichments: message.enrichments,
    actions: message.actions.map((a) => ({ label: a.label, url: a.url })),
    ...(message.note ? { note: message.note } : {}),
    alert: message.alert,
  };
}

/** Sends one signed webhook message; `id` is the delivery's stable message id. */
export async function sendWebhook(
  channel: WebhookChannelConfig,
  message: ChannelMessage,
  options: { id: string; event: string; now: Date },
): Promise<Record<string, unknown>> {
  const body = stringifyJson(webhookDocument(message, options.event));
  const headers = await signWebhook(channel.secret, {
    id: options.id,
    timestamp: Math.floor(options.now.getTime() / 1000),
    body,
  });
  const { status } = await postJson(
    withBase(channel.url, channel.api_url),
    body,
    {
      headers,
      timeoutMs: channel.timeout,
      what: "webhook receiver",
    },
  );
  return { status, webhook_id: options.id };
}

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function encodeBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}
