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
import {
  BREAKER_UPSERT,
  GROUP_UPSERT,
  type Upsert,
  WINDOW_UPSERT,
} from "../storm_upserts.ts";
import type { StormTimer } from "../store.ts";

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
  if (plan.breaker) write(sql, BREAKER_UPSERT, plan.breaker);
  if (plan.group) write(sql, GROUP_UPSERT, plan.group);
  if (plan.window) write(sql, WINDOW_UPSERT, plan.window);
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

function write<T>(sql: Sql, upsert: Upsert<T>, row: T): void {
  sql(upsert.sqlite).run(...upsert.params(row));
}
