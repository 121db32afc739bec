/**
 * What storm control's emails share: sending one to a detector's recipients (threaded under an alert's
 * email when given), reading the suppressed alerts an email reports, and the distinct values of each
 * fingerprint path. `storm_mail.ts` (digests, silence ends) and `_storm_breaker_mail.ts` use them.
 *
 * @module
 */
import type { LoadedDetector } from "../config/config.ts";
import { headerSafe } from "../headers.ts";
import type {
  AlertQuery,
  AlertRecord,
  Store,
  SuppressedBy,
} from "../store/store.ts";
import { shownValue } from "../storm/storm.ts";
import { lookup } from "../template.ts";
import {
  renderStormEmail,
  type StormDistinct,
  type StormEmailModel,
} from "../../emails/StormEmail.tsx";
import { queueNotice, stormChannelMessage } from "../channels/channels.ts";
import type { ChannelMessage } from "../channels/model.ts";
import { messageIdOf, recipients } from "./_compose.ts";
import type { Runtime } from "./_types.ts";

/** Alerts listed in one email's table. */
export const TABLE_ROWS = 50;
/** Distinct values listed per path. */
export const TOP_VALUES = 10;
/** Suppressed alerts read for one email (its counts come from the store, never capped). */
const READ_AT_MOST = 20_000;

/**
 * Sends a storm email to the detector's recipients, threaded under `parent`'s email when given, and
 * queues the same message to the detector's other channels (`notify`; its entries hang off the
 * `channels.anchor` alert). Without `email` in `notify` only the channels get it.
 */
export async function sendStormEmail(
  runtime: Runtime,
  detector: LoadedDetector,
  parent: AlertRecord | undefined,
  mail: {
    subject: string;
    model: StormEmailModel;
    messageId: string;
    kind: string;
    /** Without it (a notice about no alert in particular) only the email goes. */
    channels?: {
      anchor: string;
      count: number;
      firstSeen?: string;
      lastSeen?: string;
      fingerprint?: string;
      /** A grouped email's alerts: PagerDuty gets one trigger each instead of the email's message. */
      members?: ChannelMessage[];
    };
  },
): Promise<void> {
  const { config } = runtime;
  const queued = mail.channels && await queueNotice(runtime, {
    notify: detector.config.notify,
    event: `${mail.kind}:${mail.messageId.replace(/^<|@.*$/g, "")}`,
    ...(mail.channels.members ? { members: mail.channels.members } : {}),
    message: stormChannelMessage({
      kind: mail.kind === "digest" ? "digest" : "notice",
      alertId: mail.channels.anchor,
      detector: detector.name,
      subject: mail.subject,
      at: (runtime.clock?.() ?? new Date()).toISOString(),
      publicUrl: config.global.public_url,
      facts: mail.model.facts,
      distinct: mail.model.distinct,
      buttons: mail.model.buttons,
      ...(mail.model.note ? { note: mail.model.note } : {}),
      count: mail.channels.count,
      ...(mail.channels.firstSeen
        ? { firstSeen: mail.channels.firstSeen }
        : {}),
      ...(mail.channels.lastSeen ? { lastSeen: mail.channels.lastSeen } : {}),
      ...(mail.channels.fingerprint
        ? { fingerprint: mail.channels.fingerprint }
        : {}),
    }),
  });
  if (queued) runtime.onChannelWork?.();
  if (!detector.config.notify.includes("email")) return;
  const fallback = recipients(config, detector);
  const { html, text } = renderStormEmail(mail.model);
  const parentId = parent
    ? parent.message_id ?? messageIdOf(config, parent.id)
    : undefined;
  await runtime.delivery.send({
    from: headerSafe(config.global.from_email),
    to: parent?.to ?? fallback.to,
    cc: parent?.cc ?? fallback.cc,
    subject: headerSafe(mail.subject),
    html,
    text,
    messageId: mail.messageId,
    ...(parentId ? { inReplyTo: parentId, references: [parentId] } : {}),
    headers: {
      ...(parent ? { "X-Blitz-Alert-Id": parent.id } : {}),
      "X-Blitz-Detector": detector.name,
      "X-Blitz-Storm": mail.kind,
    },
  });
  runtime.onStormEmail?.(detector.name, mail.kind);
  runtime.log("storm_email", {
    detector: detector.name,
    kind: mail.kind,
    subject: mail.subject,
    ...(parent ? { alert_id: parent.id } : {}),
  });
}

/** The suppressed alerts of a notified alert or a silence, oldest first (at most READ_AT_MOST). */
export async function suppressedAlerts(
  store: Store,
  query: Pick<
    AlertQuery,
    "notified_id" | "silence_id" | "detector" | "suppressed_by" | "after"
  >,
): Promise<AlertRecord[]> {
  const out: AlertRecord[] = [];
  let before: { at: string; id: string } | undefined;
  while (out.length < READ_AT_MOST) {
    const page = await store.listAlerts({
      ...query,
      status: "suppressed",
      limit: 500,
      ...(before ? { before: before.at, before_id: before.id } : {}),
    });
    out.push(...page);
    const last = page[page.length - 1];
    if (!last || page.length < 500) break;
    before = { at: last.received_at, id: last.id };
  }
  return out.reverse();
}

/** Each path's distinct values with counts, most frequent first (top 10, then "and K more"). */
export function distinctValues(
  paths: string[],
  alerts: { alert: Record<string, unknown> }[],
): StormDistinct[] {
  return paths.map((path) => {
    const counts = new Map<string, number>();
    for (const a of alerts) {
      const value = shownValue(lookup(a.alert, path));
      counts.set(value, (counts.get(value) ?? 0) + 1);
    }
    const sorted = [...counts].sort((a, b) =>
      b[1] - a[1] || (a[0] < b[0] ? -1 : 1)
    );
    return {
      path,
      values: sorted.slice(0, TOP_VALUES).map(([value, count]) => ({
        value,
        count,
      })),
      more: Math.max(0, sorted.length - TOP_VALUES),
    };
  });
}

export function total(counts: Partial<Record<SuppressedBy, number>>): number {
  return Object.values(counts).reduce((a, b) => a + (b ?? 0), 0);
}

export function reasons(counts: Partial<Record<SuppressedBy, number>>): string {
  return Object.entries(counts).map(([reason, n]) => `${reason} ${n}`).join(
    ", ",
  );
}

/** The alert pages' list, `<public_url>/alerts`. */
export function alertsHref(runtime: Runtime): string {
  return `${runtime.config.global.public_url.replace(/\/+$/, "")}/alerts`;
}

/** One alert's page, `<public_url>/alerts/<id>`. */
export function alertHref(runtime: Runtime, id: string): string {
  return `${alertsHref(runtime)}/${encodeURIComponent(id)}`;
}

export function host(runtime: Runtime): string {
  return new URL(runtime.config.global.public_url).hostname;
}
