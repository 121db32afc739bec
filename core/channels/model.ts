/**
 * The rendered message every channel receives (Slack, Teams, webhooks, PagerDuty, `defineChannel`
 * plugins): one model made at compose time from what the email renders, stored with each channel's
 * outbox entry so a retry sends exactly what the first attempt would have. Plain JSON, no imports: the
 * plugin contract (`core/plugin.ts`) re-exports it.
 *
 * @module
 */

/** Blitz's severity levels. */
export type SeverityLevel = "critical" | "high" | "medium" | "low";

/** One response action (a reply button): its label and the confirmation page it opens. */
export interface MessageAction {
  label: string;
  /** Hex color of the email button. */
  color: string;
  /** The confirmation page: `{public_url}/actions/<token>` (GET never acts). */
  url: string;
  /** The signed single-use token in `url` (the same one as the email's button): Slack's button value. */
  token: string;
}

/** One enrichment, summarised for a chat line (the full data is in `data`). */
export interface MessageEnrichment {
  name: string;
  status: "ok" | "error" | "timeout" | "skipped";
  /** One line for people: `country: NL, asn: 1136` or `timed out after 5 s`. */
  summary: string;
  /** The enrichment's result (redacted), for webhooks and plugins. */
  data?: unknown;
}

/** The message model of one alert (or a storm digest or notice) for a channel. */
export interface ChannelMessage {
  /** `alert` (an alert), `resolved` (an alert that says a problem ended), `digest` or `notice` (storm control). */
  kind: "alert" | "resolved" | "digest" | "notice";
  alert_id: string;
  detector: string;
  /** The email's title (`mail_title`, else the subject), placeholders filled. */
  title: string;
  subject: string;
  severity?: SeverityLevel;
  /** ISO 8601 time the alert was received. */
  received_at: string;
  /** `{public_url}/alerts/<id>`. */
  alert_url: string;
  /** Key fields: the send actions' values (as the email shows them), then the alert's top-level scalars. */
  fields: { name: string; value: string }[];
  enrichments: MessageEnrichment[];
  actions: MessageAction[];
  /** E.g. "No enrichment condition matched this alert". */
  note?: string;
  /** Storm control's fingerprint of the alert, when the detector has one (PagerDuty's dedup_key). */
  fingerprint?: string;
  /** Storm counts, for digests and for alerts that carry them. */
  storm?: { count: number; first_seen?: string; last_seen?: string };
  /** The alert as received (after preprocess), redacted. */
  alert: Record<string, unknown>;
}
