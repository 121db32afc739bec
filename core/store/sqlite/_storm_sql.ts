/**
 * Storm control's statements on the SQLite store: the reads a decision asks for (`readRow`, for
 * `../storm_plan.ts`) and the writes of its plan (`writePlan`), all run inside the caller's one
 * write of the group commit, so a decision is atomic and concurrent ones go one after the other.
 *
 * @module
 */
import type { StatementSync } from "node:sqlite";
import { toBreaker, toGroup } from "../records.ts";
import type { StormPlan, StormRead, StormRow } from "../storm_plan.ts";
import { WINDOW_UPSERT, windowParams } from "../storm_window.ts";
import type {
  BreakerState,
  StormGroup,
  StormTimer,
  StormWindow,
} from "../store.ts";

/** The store's statement cache. */
export type Sql = (sql: string) => StatementSync;

/** A row a decision asks for. */
export function readRow(sql: Sql, what: StormRead): StormRow {
  if (what.read === "breaker") {
    const row = sql("SELECT * FROM storm_breaker WHERE detector = ?").get(
      what.detector,
    );
    return row ? toBreaker(row) : undefined;
  }
  if (
    what.read === "batched" &&
    !sql(
      `SELECT 1 FROM alerts WHERE id = ? AND group_key = ? AND status = 'suppressed'
      AND suppressed_by = 'group' AND message_id IS NULL`,
    ).get(
      what.alertId,
      what.key,
    )
  ) return undefined;
  const row = sql("SELECT * FROM storm_groups WHERE group_key = ?").get(
    what.key,
  );
  return row ? toGroup(row) : undefined;
}

/** Writes a decision's plan (inside the caller's write) and returns its result. */
export function writePlan<T>(sql: Sql, plan: StormPlan<T>, at: Date): T {
  if (plan.breaker) writeBreaker(sql, plan.breaker);
  if (plan.group) writeGroup(sql, plan.group);
  if (plan.window) writeWindow(sql, plan.window);
  for (const timer of plan.timers) insertTimer(sql, timer);
  const mark = plan.alert;
  if (mark?.suppressed) {
    sql(
      `UPDATE alerts SET status = 'suppressed', fingerprint = ?, suppressed_by = ?, notified_id = ?,
      silence_id = ?, group_key = ?, lease_until = NULL, updated_at = ? WHERE id = ?`,
    ).run(
      mark.fingerprint ?? null,
      mark.suppressed.reason,
      mark.suppressed.notifiedId ?? null,
      mark.suppressed.silenceId ?? null,
      mark.suppressed.groupKey ?? null,
      at.toISOString(),
      mark.id,
    );
  } else if (mark?.fingerprint) {
    sql("UPDATE alerts SET fingerprint = ? WHERE id = ?").run(
      mark.fingerprint,
      mark.id,
    );
  }
  if (plan.silence) {
    sql("UPDATE silences SET suppressed = suppressed + 1 WHERE id = ?").run(
      plan.silence,
    );
  }
  return plan.result;
}

/** Schedules a timer; one with the same id already there is kept. */
export function insertTimer(sql: Sql, timer: StormTimer): void {
  sql(
    `INSERT INTO storm_timers (id, kind, due_at, ref) VALUES (?, ?, ?, ?)
    ON CONFLICT (id) DO NOTHING`,
  ).run(timer.id, timer.kind, timer.due_at, JSON.stringify(timer.ref));
}

/** {@link WINDOW_UPSERT} with SQLite's numbered parameters. */
const WINDOW_UPSERT_SQLITE = WINDOW_UPSERT.replace(/\$(\d+)/g, "?$1");

function writeWindow(sql: Sql, w: StormWindow): void {
  sql(WINDOW_UPSERT_SQLITE).run(...windowParams(w));
}

function writeGroup(sql: Sql, g: StormGroup): void {
  sql(
    `INSERT INTO storm_groups (group_key, detector, paths, fp_values, last_sent_at, flush_at)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (group_key) DO UPDATE SET last_sent_at = excluded.last_sent_at,
      flush_at = excluded.flush_at`,
  ).run(
    g.group_key,
    g.detector,
    JSON.stringify(g.paths),
    JSON.stringify(g.values),
    g.last_sent_at ?? null,
    g.flush_at ?? null,
  );
}

function writeBreaker(sql: Sql, s: BreakerState): void {
  sql(
    `INSERT INTO storm_breaker (detector, mode, bucket_start, bucket_count, prev_count, on_since, period_start, period_count)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (detector) DO UPDATE SET mode = excluded.mode, bucket_start = excluded.bucket_start,
      bucket_count = excluded.bucket_count, prev_count = excluded.prev_count, on_since = excluded.on_since,
      period_start = excluded.period_start, period_count = excluded.period_count`,
  ).run(
    s.detector,
    s.mode,
    s.bucket_start,
    s.bucket_count,
    s.prev_count,
    s.on_since ?? null,
    s.period_start ?? null,
    s.period_count,
  );
}
