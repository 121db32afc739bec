/**
 * Storm control's emails (issue 11), sent when a timer comes due (`core/service/storm_job.ts` claims
 * them on the runtime clock): the digest of a closed realert window, threaded under the window's first
 * email (none while the fingerprint is acked: an ack means no more emails), and the email that ends a
 * silence. Each says exactly what the store recorded: counts come
 * from the suppressed alerts themselves. A timer whose email fails stays claimed until its lease
 * lapses and runs again (same Message-ID, so a client shows it once).
 *
 * @module
 */
import type { LoadedDetector } from "../config/config.ts";
import { formatDuration } from "../duration.ts";
import type { AlertRecord, StormTimer } from "../store/store.ts";
import {
  clockTime,
  shownValue,
  STORM_BUTTON_INDEX,
  STORM_BUTTONS,
  stormPolicy,
} from "../storm/storm.ts";
import { fill, lookup } from "../template.ts";
import type { StormEmailModel } from "../../emails/StormEmail.tsx";
import { buttonLinks } from "./_compose.ts";
import {
  alertHref,
  alertsHref,
  distinctValues,
  host,
  reasons,
  sendStormEmail,
  suppressedAlerts,
  TABLE_ROWS,
  total,
} from "./_storm_send.ts";
import { breakerDigest } from "./_storm_breaker_mail.ts";
import { groupEmail } from "./_storm_group_mail.ts";

export { sendBreakerNotice } from "./_storm_breaker_mail.ts";
export {
  distinctValues,
  suppressedAlerts,
  TABLE_ROWS,
  TOP_VALUES,
} from "./_storm_send.ts";
import type { Runtime } from "./_types.ts";

/** What running a timer did. */
export type TimerOutcome = "sent" | "nothing" | "unknown";

/** Runs one due timer: sends its email when there is something to say. Throws when delivery fails. */
export async function runStormTimer(
  runtime: Runtime,
  timer: StormTimer,
): Promise<TimerOutcome> {
  if (timer.kind === "window") return await windowDigest(runtime, timer);
  if (timer.kind === "silence_end") return await silenceEnded(runtime, timer);
  if (timer.kind === "breaker") return await breakerDigest(runtime, timer);
  if (timer.kind === "group") return await groupEmail(runtime, timer);
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
  // Alerts of other fingerprints grouped under this one were in the grouped email, not this window.
  const alerts = (await suppressedAlerts(store, { notified_id: notified.id }))
    .filter((a) => a.suppressed_by !== "group");
  if (alerts.length === 0) return "nothing";
  const counts = await store.storm.suppressedCounts({
    notified_id: notified.id,
  });
  delete counts.group;
  const count = total(counts);
  const window = await store.storm.window(timer.ref.fingerprint ?? "");
  if (window && acked(detector, window, runtime.clock?.() ?? new Date())) {
    // An ack means no more emails for the fingerprint: its held alerts are stored (the /alerts row
    // counts them) and the next email, once the ack is quiet, says how many (`+N similar since`).
    runtime.log("storm_digest_acked", {
      detector: detector.name,
      fingerprint: window.fingerprint,
      alert_id: notified.id,
      count,
      acked_by: window.acked_by,
    });
    return "nothing";
  }
  const paths = detector.config.storm?.fingerprint ?? window?.paths ?? [];
  const opened = timer.ref.opened_at ?? notified.received_at;
  const first = firstSubject(notified, detector.config.subject);
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
    link: {
      label: `All ${count} alert${count === 1 ? "" : "s"} it held`,
      href: `${alertsHref(runtime)}?${new URLSearchParams({
        silence: silence.id,
      })}`,
    },
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

/** Whether the fingerprint is acked and not yet quiet for the detector's `ack_quiet` at `now`. */
function acked(
  detector: LoadedDetector,
  window: { acked_at?: string; last_seen_at: string },
  now: Date,
): boolean {
  const storm = detector.config.storm;
  if (!storm || window.acked_at === undefined) return false;
  return now.getTime() - Date.parse(window.last_seen_at) <
    stormPolicy(storm).ackQuietMs;
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

/** The first email's subject without its `(+N similar since …)` count. */
function firstSubject(record: AlertRecord, template?: string): string {
  const own = record.subject ??
    (template ? fill(template, record.alert) : record.detector);
  return own.replace(
    / \(\+\d+ similar since \d\d:\d\d\)$/,
    "",
  );
}
