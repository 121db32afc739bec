/**
 * `replay`: stored alerts through a changed config, in alert-time order (`received_at`, then id), to
 * see what would differ before the change goes live. Each alert goes through the changed detector as
 * processing would take it (`_one.ts`); storm control decides on a SCRATCH state (an in-memory SQLite
 * store of its own, `_storm.ts`) whose clock is driven to each alert's time, with the storm timers
 * (window digests, group flushes, silence ends, breaker ticks) run in due order between alerts, so
 * "12 emails and 3 digests instead of 140" is exact. Nothing is sent, nothing with side effects runs,
 * nothing is written to the real store (the caller reads it; this module never sees it).
 *
 * @module
 */
import type { Runtime } from "../pipeline/pipeline.ts";
import { openSqliteStore } from "../store/sqlite/sqlite.ts";
import type { AlertRecord, SuppressedBy } from "../store/store.ts";
import { emptyView, replayedView, type ReplayStep } from "./_one.ts";
import { type OperatorInput, StormReplay } from "./_storm.ts";
import {
  type AlertView,
  changes,
  recordedView,
  type ReplayedAlert,
  type ReplayReport,
  type StormCounts,
} from "./_views.ts";

export type {
  AlertView,
  Change,
  ReplayedAlert,
  ReplayReport,
  StormCounts,
} from "./_views.ts";
export type { ReplayStep } from "./_one.ts";
export type { OperatorInput, StormAck, StormView } from "./_storm.ts";
export { alertPage, indexPage, textReport } from "./_report.ts";

/** Statuses of alerts that went through the pipeline (the others have nothing to compare with). */
export const REPLAYABLE = new Set([
  "delivered",
  "not_sent",
  "failed",
  "retry",
  "suppressed",
]);

/** Options of {@link replayAlerts}. */
export interface ReplayOptions {
  /** Query enrichments again instead of using the stored results. @default false */
  live?: boolean;
  /** Extra steps, in order, after composing. @default none */
  steps?: ReplayStep[];
  /** Silences and acks recorded in the real store, replayed as recorded. @default none */
  operator?: OperatorInput;
  /** Storm timers due by then run; later ones are counted as pending. @default the runtime's clock */
  end?: Date;
}

/** Alert-time order: `received_at`, then id. */
export function byAlertTime(a: AlertRecord, b: AlertRecord): number {
  return a.received_at < b.received_at
    ? -1
    : a.received_at > b.received_at
    ? 1
    : a.id < b.id
    ? -1
    : a.id > b.id
    ? 1
    : 0;
}

/**
 * Replays `records` (sorted here) through `runtime` (built from the changed config; its store and
 * delivery are never used: storm state is scratch, storm emails are only counted).
 */
export async function replayAlerts(
  runtime: Runtime,
  records: AlertRecord[],
  options: ReplayOptions = {},
): Promise<ReplayReport> {
  const ordered = [...records].sort(byAlertTime);
  const scratch = openSqliteStore(":memory:");
  try {
    const storm = await StormReplay.open(
      { ...runtime, store: scratch },
      scratch,
      options.operator ?? { silences: [], acks: [] },
    );
    const afters: AlertView[] = [];
    for (const record of ordered) {
      const detector = runtime.config.detectors.get(record.detector);
      if (!detector) {
        // The changed config has no such detector: such an alert would be refused at ingest.
        afters.push({ ...emptyView(), decisions: { detector: "removed" } });
        continue;
      }
      const at = new Date(record.received_at);
      afters.push(
        await replayedView(
          { ...runtime, store: scratch, clock: () => at },
          record,
          {
            detector,
            storm,
            live: options.live ?? false,
            steps: options.steps ?? [],
          },
        ),
      );
    }
    const end = options.end ?? runtime.clock?.() ?? new Date();
    const { views, pending } = await storm.finish(
      end,
      ordered.map((r) => r.id),
    );
    const alerts = ordered.map((record, i): ReplayedAlert => {
      const before = recordedView(record);
      const after = afters[i]!;
      const view = views.get(record.id);
      if (view && after.storm) after.storm = view;
      const found = changes(before, after);
      return {
        id: record.id,
        detector: record.detector,
        received_at: record.received_at,
        changed: found.length > 0,
        changes: found,
        before,
        after,
      };
    });
    return {
      alerts,
      summary: summarize(alerts, {
        before: recordedStormEmails(ordered),
        after: storm.emails,
        pending,
      }),
    };
  } finally {
    await scratch.close();
  }
}

function summarize(
  alerts: ReplayedAlert[],
  storm: {
    before: Record<string, number>;
    after: Record<string, number>;
    pending: Record<string, number>;
  },
): ReplayReport["summary"] {
  const decisions: Record<string, Record<string, number>> = {};
  for (const alert of alerts) {
    for (const [name, decision] of Object.entries(alert.after.decisions)) {
      const counts = decisions[name] ??= {};
      counts[decision] = (counts[decision] ?? 0) + 1;
    }
  }
  const changed = alerts.filter((a) => a.changed).length;
  const emails = {
    before: alerts.filter((a) => a.before.sent).length,
    after: alerts.filter((a) => a.after.sent).length,
  };
  return {
    replayed: alerts.length,
    changed,
    unchanged: alerts.length - changed,
    emails,
    decisions,
    storm: {
      before: counts(
        emails.before,
        storm.before,
        alerts.map((a) => a.before),
      ),
      after: counts(emails.after, {
        digest: 0,
        group: 0,
        silence_end: 0,
        breaker_on: 0,
        breaker_off: 0,
        breaker_digest: 0,
        ...storm.after,
      }, alerts.map((a) => a.after)),
      pending: storm.pending,
    },
  };
}

function counts(
  emails: number,
  stormEmails: Record<string, number>,
  views: AlertView[],
): StormCounts {
  const suppressed: Partial<Record<SuppressedBy, number>> = {};
  for (const view of views) {
    const reason = view.storm?.suppressed_by;
    if (view.storm?.decision === "suppressed" && reason) {
      suppressed[reason] = (suppressed[reason] ?? 0) + 1;
    }
  }
  return {
    emails,
    storm_emails: stormEmails,
    suppressed,
    total: emails +
      Object.values(stormEmails).reduce((sum, n) => sum + n, 0),
  };
}

/**
 * The storm emails the recorded alerts imply: one digest per notified alert with alerts suppressed
 * under it (not by grouping), one grouped email per Message-ID on grouped alerts, one end-of-silence
 * email per silence that held alerts.
 */
function recordedStormEmails(
  records: AlertRecord[],
): Record<string, number> {
  const digests = new Set<string>();
  const groups = new Set<string>();
  const silences = new Set<string>();
  for (const record of records) {
    if (record.status !== "suppressed") continue;
    if (record.suppressed_by === "group") {
      if (record.message_id) groups.add(record.message_id);
    } else if (record.notified_id) {
      digests.add(record.notified_id);
    }
    if (record.suppressed_by === "silence" && record.silence_id) {
      silences.add(record.silence_id);
    }
  }
  return {
    digest: digests.size,
    group: groups.size,
    silence_end: silences.size,
  };
}
