/**
 * The storm breaker's emails: one "storm mode on" notice when a detector goes over `storm_breaker`,
 * a digest of the alerts it held every 15 minutes while it lasts, and one "storm mode off" notice
 * when a period's rate is back under the limit.
 *
 * @module
 */
import type { LoadedDetector } from "../config/config.ts";
import type { StormTimer } from "../store/store.ts";
import { clockTime, shownValue } from "../storm/storm.ts";
import { lookup } from "../template.ts";
import type { StormEmailModel } from "../../emails/StormEmail.tsx";
import {
  alertHref,
  distinctValues,
  host,
  sendStormEmail,
  suppressedAlerts,
  TABLE_ROWS,
} from "./_storm_send.ts";
import type { Runtime } from "./_types.ts";

/** The "storm mode on (rate)" or "storm mode off" notice. */
export async function sendBreakerNotice(
  runtime: Runtime,
  detector: LoadedDetector,
  notice: {
    on: boolean;
    rate: number;
    held?: number;
    since?: string;
    /** The alert the notice is about (the one that switched it on), for the other channels. */
    anchor?: string;
  },
): Promise<void> {
  const limit = runtime.config.global.storm_breaker;
  const now = (runtime.clock?.() ?? new Date()).toISOString();
  const subject = notice.on
    ? `${detector.name}: storm mode on (${notice.rate}/h, over ${
      limit?.text ?? "the limit"
    }): digests every 15 minutes`
    : `${detector.name}: storm mode off (${notice.rate}/h, under ${
      limit?.text ?? "the limit"
    }): single emails again`;
  const model: StormEmailModel = {
    kicker: `Blitz storm breaker · ${detector.name}`,
    title: subject,
    facts: [
      ["Detector", detector.name],
      ["Rate", `${notice.rate} emails/h`],
      ["Limit", limit?.text ?? "off"],
      ...(notice.since ? [["Since", notice.since] as [string, string]] : []),
      ...(notice.held !== undefined
        ? [["Held", String(notice.held)] as [string, string]]
        : []),
    ],
    distinct: [],
    columns: [],
    rows: [],
    more: 0,
    note: notice.on
      ? "Every alert of this detector is stored and counted, not mailed; a digest of them follows every 15 minutes until the rate is back under the limit."
      : "Alerts of this detector are mailed one by one again (with their storm control, if any).",
    buttons: [],
    footer: "Sent by Blitz's storm breaker (storm_breaker in blitz.yaml).",
  };
  await sendStormEmail(runtime, detector, undefined, {
    subject,
    model,
    messageId: `<breaker.${notice.on ? "on" : "off"}.${detector.name}.${
      Date.parse(now)
    }@${host(runtime)}>`,
    kind: notice.on ? "breaker_on" : "breaker_off",
    ...(notice.anchor
      ? { channels: { anchor: notice.anchor, count: notice.held ?? 1 } }
      : {}),
  });
}

/** The 15-minute tick: a digest of what the period held, then the "off" notice when it is over. */
export async function breakerDigest(
  runtime: Runtime,
  timer: StormTimer,
): Promise<"sent" | "nothing"> {
  const detector = runtime.config.detectors.get(timer.ref.detector ?? "");
  const limit = runtime.config.global.storm_breaker;
  if (!detector) return "nothing";
  const now = runtime.clock?.() ?? new Date();
  // With the breaker turned off by a reload, storm mode ends at its next tick.
  const tick = await runtime.store.storm.breakerTick({
    detector: detector.name,
    now,
    perHour: limit?.perHour ?? Number.MAX_SAFE_INTEGER,
  });
  if (!tick) return "nothing";
  const alerts = (await suppressedAlerts(runtime.store, {
    detector: detector.name,
    suppressed_by: "breaker",
    after: tick.periodStart,
  })).filter((a) => a.received_at < now.toISOString());
  const paths = detector.config.storm?.fingerprint ?? [];
  if (alerts.length > 0) {
    const subject = `${detector.name}: storm mode, ${alerts.length} alert${
      alerts.length === 1 ? "" : "s"
    } held (${clockTime(tick.periodStart)}–${clockTime(now.toISOString())})`;
    await sendStormEmail(runtime, detector, undefined, {
      subject,
      model: {
        kicker: `Blitz storm breaker · ${detector.name}`,
        title: subject,
        facts: [
          ["Held", String(alerts.length)],
          ["First seen", alerts[0]!.received_at],
          ["Last seen", alerts[alerts.length - 1]!.received_at],
          ["Rate", `${tick.rate}/h (limit ${limit?.text ?? "off"})`],
        ],
        distinct: distinctValues(paths, alerts),
        columns: paths,
        rows: alerts.slice(0, TABLE_ROWS).map((a) => ({
          at: a.received_at,
          fields: paths.map((p) => shownValue(lookup(a.alert, p))),
          href: alertHref(runtime, a.id),
          note: "breaker",
        })),
        more: Math.max(0, alerts.length - TABLE_ROWS),
        note: tick.ended
          ? "The rate is back under the limit: storm mode is off."
          : "Storm mode goes on: the next digest follows in 15 minutes.",
        buttons: [],
        footer: "Sent by Blitz's storm breaker (storm_breaker in blitz.yaml).",
      },
      messageId: `<breaker.digest.${detector.name}.${
        Date.parse(tick.periodStart)
      }@${host(runtime)}>`,
      kind: "breaker_digest",
      channels: {
        anchor: alerts[0]!.id,
        count: alerts.length,
        firstSeen: alerts[0]!.received_at,
        lastSeen: alerts[alerts.length - 1]!.received_at,
      },
    });
  }
  if (tick.ended) {
    await sendBreakerNotice(runtime, detector, {
      on: false,
      rate: tick.rate,
      held: alerts.length,
      ...(alerts.length ? { anchor: alerts[alerts.length - 1]!.id } : {}),
    });
  }
  return alerts.length > 0 || tick.ended ? "sent" : "nothing";
}
