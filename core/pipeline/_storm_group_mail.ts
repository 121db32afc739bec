/**
 * Storm control's grouped email (`storm.group`): when a group's batch comes due, one email lists the
 * new fingerprints that joined it (up to `group.max_alerts` rows, the rest counted), instead of one
 * email each. The store hands the batch over atomically (`Store.storm.flushGroup`): every alert of it
 * then names the batch's first alert as the one whose email covers it. A fingerprint that resolved
 * while its firing waited in the batch is in it too (its resolve's row says "resolved"): one email
 * says it fired and ended. Once sent, the batch's alerts join their threads, so a fingerprint's later
 * email (its resolve, the next firing) answers the grouped one.
 *
 * @module
 */
import type { LoadedDetector } from "../config/config.ts";
import { errorMessage } from "../errors.ts";
import { isResolved } from "../resolved.ts";
import type { AlertRecord, StormTimer } from "../store/store.ts";
import { fingerprintOf, shownValue } from "../storm/storm.ts";
import { fill, lookup } from "../template.ts";
import { buildChannelMessage } from "../channels/message.ts";
import type { ChannelMessage } from "../channels/model.ts";
import { headerSafe } from "../headers.ts";
import { severityOf } from "../severity.ts";
import { buttonLinks } from "./_compose.ts";
import {
  alertHref,
  distinctValues,
  host,
  sendStormEmail,
} from "./_storm_send.ts";
import type { Runtime } from "./_types.ts";

/** Sends the grouped email of a batch that came due; "nothing" when it is empty. */
export async function groupEmail(
  runtime: Runtime,
  timer: StormTimer,
): Promise<"sent" | "nothing"> {
  const { store, config } = runtime;
  const key = timer.ref.group_key ?? "";
  const now = runtime.clock?.() ?? new Date();
  const messageId = `<group.${key}.${Date.parse(timer.due_at)}@${
    host(runtime)
  }>`;
  const batch = await store.storm.flushGroup(key, { now, messageId });
  if (batch.length === 0) return "nothing";
  const first = batch[0]!;
  const detector = config.detectors.get(first.detector);
  const group = detector?.config.storm?.group;
  if (!detector || !group) return "nothing";
  const paths = detector.config.storm!.fingerprint;
  const by = group.by.map((p) => `${p} ${shownValue(lookup(first.alert, p))}`)
    .join(", ");
  const firing = batch.filter((a) => !isResolved(a.alert));
  const resolved = batch.length - firing.length;
  const count = firing.length;
  const subject = `${detector.name}: ${count} new alert${
    count === 1 ? "" : "s"
  } with ${by}${resolved > 0 ? ` (${resolved} already resolved)` : ""}`;
  const buttons = await buttonLinks(
    runtime,
    first.id,
    detector.config.actions.reply.map((button, index) => ({ index, button })),
    (template) => fill(template, first.alert),
  );
  await sendStormEmail(runtime, detector, undefined, {
    subject,
    model: {
      kicker: `Blitz group · ${detector.name}`,
      title: subject,
      facts: [
        ["Alerts", String(count)],
        ...(resolved > 0
          ? [["Already resolved", String(resolved)] as [string, string]]
          : []),
        ["Grouped by", group.by.join(", ")],
        ["First seen", first.received_at],
        ["Last seen", batch[batch.length - 1]!.received_at],
      ],
      distinct: distinctValues(paths, firing),
      columns: paths,
      rows: batch.slice(0, group.max_alerts).map((a) => ({
        at: a.received_at,
        fields: paths.map((p) => shownValue(lookup(a.alert, p))),
        href: alertHref(runtime, a.id),
        ...(isResolved(a.alert) ? { note: "resolved" } : {}),
      })),
      more: Math.max(0, batch.length - group.max_alerts),
      note:
        `Each fingerprint listed is in its realert window now: its repeats are counted, and a digest follows when the window closes${
          resolved > 0
            ? " (one marked resolved ended before this email: its next alert is mailed at once)"
            : ""
        }. The next batch of this group can go ${
          Math.round(group.interval / 60_000)
        } min after this one at the earliest.`,
      buttons,
      footer: "Sent by Blitz storm control (storm.group of the detector).",
    },
    messageId,
    kind: "group",
    channels: {
      anchor: first.id,
      count,
      firstSeen: first.received_at,
      lastSeen: batch[batch.length - 1]!.received_at,
      members: openMembers(runtime, detector, batch, subject),
    },
  });
  await joinThreads(runtime, detector, batch);
  return "sent";
}

/**
 * The PagerDuty triggers of a batch: one per fingerprint still firing at its last alert in the batch,
 * keyed by the fingerprint as an ungrouped alert's is, so that fingerprint's resolve closes exactly its
 * incident (docs/storm.md). A fingerprint that fired and resolved within the wait pages nobody.
 */
function openMembers(
  runtime: Runtime,
  detector: LoadedDetector,
  batch: AlertRecord[],
  groupSubject: string,
): ChannelMessage[] {
  const last = new Map<string, AlertRecord>();
  for (const a of batch) last.set(a.fingerprint ?? a.id, a);
  return [...last.values()].filter((a) => !isResolved(a.alert)).map((a) => {
    const severity = detector.severity
      ? severityOf(detector.severity, a.alert)
      : undefined;
    const subject = headerSafe(
      fill(detector.config.subject, { ...a.alert, severity: severity ?? "" }),
    ) || `Blitz alert from ${detector.name}`;
    return buildChannelMessage({
      alertId: a.id,
      detector: detector.name,
      title: subject,
      subject,
      receivedAt: a.received_at,
      publicUrl: runtime.config.global.public_url,
      alert: a.alert,
      enrichments: [],
      sendResults: [],
      buttons: [],
      note: `In the grouped email "${groupSubject}"`,
      ...(severity ? { severity } : {}),
      ...(a.fingerprint ? { fingerprint: a.fingerprint } : {}),
    });
  });
}

/**
 * Records each alert of a sent batch in its thread (`thread_key`, as an alert mailed on its own is),
 * so the fingerprint's next email answers the grouped one. A failure leaves the next email unthreaded,
 * never unsent: logged.
 */
async function joinThreads(
  runtime: Runtime,
  detector: LoadedDetector,
  batch: AlertRecord[],
): Promise<void> {
  const paths = detector.config.thread_key;
  try {
    await Promise.all(batch.map(async (a) => {
      // Without `thread_key` an alert's thread is its fingerprint (hashed from the preprocessed alert).
      const key = paths
        ? fingerprintOf(detector.name, paths, a.alert).id
        : a.fingerprint;
      if (key) await runtime.store.updateAlert(a.id, { thread_key: key });
    }));
  } catch (err) {
    runtime.log("storm_thread_failed", {
      detector: detector.name,
      error: errorMessage(err),
    });
  }
}
