/**
 * Storm control's emails (issue 11), sent when a timer comes due (`core/service/storm_job.ts` claims
 * them on the runtime clock): the digest of a closed realert window, threaded under the window's first
 * email, and the email that ends a silence. Each says exactly what the store recorded: counts come
 * from the suppressed alerts themselves. A timer whose email fails stays claimed until its lease
 * lapses and runs again (same Message-ID, so a client shows it once).
 *
 * @module
 */
import type { LoadedDetector } from "../config/config.ts";
import { formatDuration } from "../duration.ts";
import { headerSafe } from "../headers.ts";
import type {
  AlertRecord,
  Store,
  StormTimer,
  SuppressedBy,
} from "../store/store.ts";
import {
  clockTime,
  shownValue,
  STORM_BUTTON_INDEX,
  STORM_BUTTONS,
  stormPolicy,
} from "../storm/storm.ts";
import { fill, lookup } from "../template.ts";
import {
  renderStormEmail,
  type StormDistinct,
  type StormEmailModel,
} from "../../emails/StormEmail.tsx";
import { buttonLinks, messageIdOf, recipients } from "./_compose.ts";
import { queueNotice, stormChannelMessage } from "../channels/channels.ts";
import type { Runtime } from "./_types.ts";

/** Alerts listed in one email's table. */
export const TABLE_ROWS = 50;
/** Distinct values listed per path. */
export const TOP_VALUES = 10;
/** Suppressed alerts read for one email (its counts come from the store, never capped). */
const READ_AT_MOST = 20_000;

/** What running a timer did. */
export type TimerOutcome = "sent" | "nothing" | "unknown";

/** Runs one due timer: sends its email when there is something to say. Throws when delivery fails. */
export async function runStormTimer(
  runtime: Runtime,
  timer: StormTimer,
): Promise<TimerOutcome> {
  if (timer.kind === "window") return await windowDigest(runtime, timer);
  if (timer.kind === "silence_end") return await silenceEnded(runtime, timer);
  return "unknown";
}

/** The digest of a closed window: `<detector>: 37 more like "<first subject>" (10:02–10:12)`. */
async function windowDigest(
  runtime: Runtime,
  timer: StormTimer,
): Promise<TimerOutcome> {
  const { store, config } = runtime;
  const notified = await store.getAlert(timer.ref.alert_id ?? "");
  const detector = notified && config.detectors.get(notified.detector);
  if (!notified || !detector) return "nothing";
  const alerts = await suppressedAlerts(store, { notified_id: notified.id });
  if (alerts.length === 0) return "nothing";
  const counts = await store.storm.suppressedCounts({
    notified_id: notified.id,
  });
  const count = total(counts);
  const window = await store.storm.window(timer.ref.fingerprint ?? "");
  const paths = detector.config.storm?.fingerprint ?? window?.paths ?? [];
  const opened = timer.ref.opened_at ?? notified.received_at;
  const first = firstSubject(notified);
  const subject = `${detector.name}: ${count} more like "${first}" (${
    clockTime(opened)
  }–${clockTime(timer.due_at)})`;
  const minutes = Math.max(
    1,
    (Date.parse(timer.due_at) - Date.parse(opened)) / 60_000,
  );
  const model: StormEmailModel = {
    kicker: `Blitz digest · ${detector.name}`,
    title: subject,
    facts: [
      ["Suppressed", String(count)],
      ["First seen", alerts[0]!.received_at],
      ["Last seen", alerts[alerts.length - 1]!.received_at],
      ["Rate", `${Number((count / minutes).toFixed(1))}/min`],
      ["Reasons", reasons(counts)],
      ["First email", notified.received_at],
    ],
    distinct: distinctValues(paths, alerts),
    columns: paths,
    rows: alerts.slice(0, TABLE_ROWS).map((a) => ({
      at: a.received_at,
      fields: paths.map((p) => shownValue(lookup(a.alert, p))),
      href: alertHref(runtime, a.id),
      note: a.suppressed_by ?? "open",
    })),
    more: Math.max(0, count - Math.min(TABLE_ROWS, alerts.length)),
    note: nextEmail(detector, window, timer.due_at),
    buttons: await digestButtons(runtime, detector, notified),
    footer:
      `Sent by Blitz storm control when the realert window of the first email closed (${
        alertHref(runtime, notified.id)
      }).`,
  };
  await sendStormEmail(runtime, detector, notified, {
    subject,
    model,
    messageId: `<digest.${notified.id}@${host(runtime)}>`,
    kind: "digest",
    channels: {
      anchor: notified.id,
      count,
      firstSeen: alerts[0]!.received_at,
      lastSeen: alerts[alerts.length - 1]!.received_at,
      ...(timer.ref.fingerprint ? { fingerprint: timer.ref.fingerprint } : {}),
    },
  });
  return "sent";
}

/** When a silence ends with alerts held back: one email that says how many and links them. */
async function silenceEnded(
  runtime: Runtime,
  timer: StormTimer,
): Promise<TimerOutcome> {
  const { store, config } = runtime;
  const silence = await store.storm.getSilence(timer.ref.silence_id ?? "");
  if (!silence) return "nothing";
  const alerts = await suppressedAlerts(store, { silence_id: silence.id });
  if (alerts.length === 0) return "nothing";
  const detector = config.detectors.get(
    silence.detector === "*" ? alerts[0]!.detector : silence.detector,
  );
  if (!detector) return "nothing";
  const count = total(
    await store.storm.suppressedCounts({ silence_id: silence.id }),
  );
  const scope = silence.detector === "*" ? "every detector" : silence.detector;
  const subject = `${scope}: silence ended, ${count} alert${
    count === 1 ? "" : "s"
  } arrived during it`;
  const paths = detector.config.storm?.fingerprint ?? [];
  const model: StormEmailModel = {
    kicker: `Blitz silence · ${scope}`,
    title: subject,
    facts: [
      ["Arrived", String(count)],
      ["Silenced", `${silence.starts_at} – ${silence.ends_at}`],
      ["By", silence.created_by],
      ["Comment", silence.comment || "—"],
      [
        "Matched",
        silence.match ??
          (silence.fingerprint ? "one fingerprint" : "every alert"),
      ],
    ],
    distinct: distinctValues(paths, alerts),
    columns: ["detector", ...paths],
    rows: alerts.slice(0, TABLE_ROWS).map((a) => ({
      at: a.received_at,
      fields: [a.detector, ...paths.map((p) => shownValue(lookup(a.alert, p)))],
      href: alertHref(runtime, a.id),
    })),
    more: Math.max(0, count - Math.min(TABLE_ROWS, alerts.length)),
    note: "New alerts are mailed as usual again.",
    buttons: [],
    footer: `Sent by Blitz when silence ${silence.id} ended.`,
  };
  await sendStormEmail(runtime, detector, undefined, {
    subject,
    model,
    messageId: `<silence.${silence.id}@${host(runtime)}>`,
    kind: "silence_end",
    channels: { anchor: alerts[0]!.id, count },
  });
  return "sent";
}

/**
 * Sends a storm email to the detector's recipients, threaded under `parent`'s email when given, and
 * queues the same message to the detector's other channels (`notify`; its entries hang off the
 * `channels.anchor` alert). Without `email` in `notify` only the channels get it.
 */
async function sendStormEmail(
  runtime: Runtime,
  detector: LoadedDetector,
  parent: AlertRecord | undefined,
  mail: {
    subject: string;
    model: StormEmailModel;
    messageId: string;
    kind: string;
    channels: {
      anchor: string;
      count: number;
      firstSeen?: string;
      lastSeen?: string;
      fingerprint?: string;
    };
  },
): Promise<void> {
  const { config } = runtime;
  const queued = await queueNotice(runtime, {
    notify: detector.config.notify,
    event: `${mail.kind}:${mail.messageId.replace(/^<|@.*$/g, "")}`,
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
  query: { notified_id?: string; silence_id?: string },
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

/** The digest's buttons: silence this fingerprint 4h / 24h, ack, and the detector's own buttons. */
function digestButtons(
  runtime: Runtime,
  detector: LoadedDetector,
  notified: AlertRecord,
) {
  const own = [
    STORM_BUTTON_INDEX.silence4h,
    STORM_BUTTON_INDEX.silence24h,
    STORM_BUTTON_INDEX.ack,
  ].map((index) => ({ index, button: STORM_BUTTONS.get(index)! }));
  return buttonLinks(
    runtime,
    notified.id,
    [
      ...own,
      ...detector.config.actions.reply.map((button, index) => ({
        index,
        button,
      })),
    ],
    (template) => fill(template, notified.alert),
  );
}

/** When the next single email of this fingerprint can fire, and how long its window will be. */
function nextEmail(
  detector: LoadedDetector,
  window: { window_ms: number; last_seen_at: string } | undefined,
  closedAt: string,
): string {
  const storm = detector.config.storm;
  if (!storm) return "";
  const policy = stormPolicy(storm);
  let next = policy.realertMs;
  if (
    policy.realertMaxMs !== undefined && window &&
    Date.parse(closedAt) - Date.parse(window.last_seen_at) <
      2 * window.window_ms
  ) next = Math.min(2 * window.window_ms, policy.realertMaxMs);
  return `The window closed at ${
    clockTime(closedAt)
  } UTC: the next alert of this fingerprint is mailed at once, and opens a window of ${
    formatDuration(next)
  }.`;
}

function total(counts: Partial<Record<SuppressedBy, number>>): number {
  return Object.values(counts).reduce((a, b) => a + (b ?? 0), 0);
}

function reasons(counts: Partial<Record<SuppressedBy, number>>): string {
  return Object.entries(counts).map(([reason, n]) => `${reason} ${n}`).join(
    ", ",
  );
}

/** The first email's subject without its `(+N similar since …)` count. */
function firstSubject(record: AlertRecord): string {
  return (record.subject ?? record.detector).replace(
    / \(\+\d+ similar since \d\d:\d\d\)$/,
    "",
  );
}

function alertHref(runtime: Runtime, id: string): string {
  return `${runtime.config.global.public_url.replace(/\/+$/, "")}/alerts/${
    encodeURIComponent(id)
  }`;
}

function host(runtime: Runtime): string {
  return new URL(runtime.config.global.public_url).hostname;
}
