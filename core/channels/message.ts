/**
 * Builds the {@link ChannelMessage} of an alert from what its email renders: the title and subject,
 * the send actions' values and the alert's top-level fields as key fields, a one-line summary of each
 * enrichment, and the reply buttons with the same signed links (and tokens) as the email's.
 *
 * @module
 */
import { stringifyJson } from "../json.ts";
import type {
  ChannelMessage,
  MessageEnrichment,
  SeverityLevel,
} from "./model.ts";
import { redactDeep } from "../secrets.ts";
import { isResolved } from "../resolved.ts";

export type {
  ChannelMessage,
  MessageAction,
  MessageEnrichment,
  SeverityLevel,
} from "./model.ts";

/** Blitz's severity levels, highest first. */
export const SEVERITY_LEVELS: readonly SeverityLevel[] = [
  "critical",
  "high",
  "medium",
  "low",
];

/** What a message is made from (the pieces the email is rendered from). */
export interface MessageInput {
  alertId: string;
  detector: string;
  title: string;
  subject: string;
  receivedAt: string;
  publicUrl: string;
  alert: Record<string, unknown>;
  enrichments: {
    name: string;
    status: MessageEnrichment["status"];
    data?: unknown;
    error?: string;
  }[];
  sendResults: { name: string; value: unknown }[];
  buttons: { label: string; color: string; href: string; token: string }[];
  note?: string;
  severity?: SeverityLevel;
  fingerprint?: string;
}

const MAX_FIELDS = 10;
const MAX_SUMMARY = 200;
const MAX_VALUE = 500;

/** The channel message of an alert; every string is redacted. */
export function buildChannelMessage(input: MessageInput): ChannelMessage {
  const base = input.publicUrl.replace(/\/+$/, "");
  const severity = input.severity ?? severityOf(input.alert);
  const message: ChannelMessage = {
    kind: isResolved(input.alert) ? "resolved" : "alert",
    alert_id: input.alertId,
    detector: input.detector,
    title: input.title,
    subject: input.subject,
    ...(severity ? { severity } : {}),
    received_at: input.receivedAt,
    alert_url: `${base}/alerts/${encodeURIComponent(input.alertId)}`,
    fields: keyFields(input),
    enrichments: input.enrichments.map((e) => ({
      name: e.name,
      status: e.status,
      summary: enrichmentSummary(e),
      ...(e.data !== undefined ? { data: e.data } : {}),
    })),
    actions: input.buttons.filter((b) => b.href).map((b) => ({
      label: b.label,
      color: b.color,
      url: b.href,
      token: b.token,
    })),
    ...(input.note ? { note: input.note } : {}),
    ...(input.fingerprint ? { fingerprint: input.fingerprint } : {}),
    alert: input.alert,
  };
  return redactDeep(message);
}

/** A level name the alert itself carries in `severity` (the severity mapping can override it). */
function severityOf(
  alert: Record<string, unknown>,
): SeverityLevel | undefined {
  const value = alert.severity;
  if (typeof value !== "string") return undefined;
  const level = value.toLowerCase() as SeverityLevel;
  return SEVERITY_LEVELS.includes(level) ? level : undefined;
}

function keyFields(input: MessageInput): { name: string; value: string }[] {
  const fields: { name: string; value: string }[] = [];
  const seen = new Set<string>();
  for (const { name, value } of input.sendResults) {
    if (seen.has(name)) continue;
    seen.add(name);
    fields.push({ name, value: clip(text(value), MAX_VALUE) });
  }
  for (const [name, value] of Object.entries(input.alert)) {
    if (fields.length >= MAX_FIELDS) break;
    if (seen.has(name) || value === null || typeof value === "object") {
      continue;
    }
    seen.add(name);
    fields.push({ name, value: clip(String(value), MAX_VALUE) });
  }
  return fields.slice(0, MAX_FIELDS);
}

/** One line for an enrichment: its data summarised, or why there is none. */
export function enrichmentSummary(
  e: { status: string; data?: unknown; error?: string },
): string {
  if (e.status === "timeout") return e.error ?? "timed out";
  if (e.status === "error") return `error: ${e.error ?? "failed"}`;
  if (e.status === "skipped") return e.error ?? "skipped";
  return clip(summarize(e.data), MAX_SUMMARY);
}

function summarize(data: unknown): string {
  if (data === undefined || data === null) return "no data";
  if (typeof data === "string") return data.split("\n")[0] ?? "";
  if (typeof data !== "object") return String(data);
  if (Array.isArray(data)) {
    if (data.length === 0) return "none";
    if (data.every((v) => v === null || typeof v !== "object")) {
      return data.map(String).join(", ");
    }
    return `${data.length} row${data.length === 1 ? "" : "s"}`;
  }
  const parts = Object.entries(data).map(([k, v]) =>
    `${k}: ${v !== null && typeof v === "object" ? "…" : String(v)}`
  );
  return parts.length ? parts.join(", ") : "no data";
}

function text(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === undefined) return "";
  try {
    return stringifyJson(value);
  } catch {
    return String(value);
  }
}

/** `s` cut to `max` characters, with an ellipsis when cut. */
export function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** What a storm-control message (a digest, or the end of a silence) is made from. */
export interface StormMessageInput {
  kind: "digest" | "notice";
  /** The alert the message hangs off (the window's first email, or the first alert held back). */
  alertId: string;
  detector: string;
  subject: string;
  /** When the message was made (ISO 8601). */
  at: string;
  publicUrl: string;
  facts: [string, string][];
  distinct: {
    path: string;
    values: { value: string; count: number }[];
    more: number;
  }[];
  /** The email's buttons (their links carry the signed tokens). */
  buttons: { label: string; color: string; href: string }[];
  note?: string;
  count: number;
  firstSeen?: string;
  lastSeen?: string;
  fingerprint?: string;
}

/** The channel message of a storm digest or notice: its facts as fields, each path's distinct values as a line. */
export function stormChannelMessage(input: StormMessageInput): ChannelMessage {
  const base = input.publicUrl.replace(/\/+$/, "");
  return redactDeep({
    kind: input.kind,
    alert_id: input.alertId,
    detector: input.detector,
    title: input.subject,
    subject: input.subject,
    received_at: input.at,
    alert_url: `${base}/alerts/${encodeURIComponent(input.alertId)}`,
    fields: input.facts.slice(0, MAX_FIELDS).map(([name, value]) => ({
      name,
      value: clip(value, MAX_VALUE),
    })),
    enrichments: input.distinct.map((d) => ({
      name: d.path,
      status: "ok" as const,
      summary: clip(
        d.values.map((v) => `${v.value} (${v.count})`).join(", ") +
          (d.more ? ` and ${d.more} more` : ""),
        MAX_SUMMARY,
      ),
    })),
    actions: input.buttons.filter((b) => b.href).map((b) => ({
      label: b.label,
      color: b.color,
      url: b.href,
      token: b.href.slice(b.href.lastIndexOf("/") + 1),
    })),
    ...(input.note ? { note: input.note } : {}),
    ...(input.fingerprint ? { fingerprint: input.fingerprint } : {}),
    storm: {
      count: input.count,
      ...(input.firstSeen ? { first_seen: input.firstSeen } : {}),
      ...(input.lastSeen ? { last_seen: input.lastSeen } : {}),
    },
    alert: {},
  });
}
