/**
 * Storm control's statements on the PostgreSQL store: the reads a decision asks for (`readRow`, for
 * `../storm_plan.ts`), each after a transaction-scoped advisory lock on its detector or group (so
 * instances count and batch one after the other), and the writes of its plan (`writePlan`), all in
 * the caller's transaction. Counts are `count + 1` in the statement, never read-modify-write.
 *
 * @module
 */
import type { Sql, TransactionSql } from "postgres";
import { toBreaker, toGroup } from "../records.ts";
import type { StormPlan, StormRead, StormRow } from "../storm_plan.ts";
import {
  BREAKER_UPSERT,
  GROUP_UPSERT,
  type Upsert,
  WINDOW_UPSERT,
} from "../storm_upserts.ts";
import type { StormTimer } from "../store.ts";

type Db = Sql | TransactionSql;

/** Takes a transaction-scoped advisory lock on `key` (`storm:<fingerprint>`, `group:<key>`, …). */
export async function lock(db: Db, key: string): Promise<void> {
  await db.unsafe("SELECT pg_advisory_xact_lock(hashtextextended($1, 11))", [
    key,
  ]);
}

/** A row a decision asks for, under its lock. */
export async function readRow(db: Db, what: StormRead): Promise<StormRow> {
  if (what.read === "breaker") {
    await lock(db, `breaker:${what.detector}`);
    const [row] = await db.unsafe(
      "SELECT * FROM storm_breaker WHERE detector = $1",
      [what.detector],
    );
    return row ? toBreaker(row) : undefined;
  }
  // The group's lock is flushGroup's too: a batch is not handed over between this read and the write.
  await lock(db, `group:${what.key}`);
  if (what.read === "batched") {
    const [waits] = await db.unsafe(
      `SELECT 1 FROM alerts WHERE id = $1 AND group_key = $2 AND status = 'suppressed'
      AND suppressed_by = 'group' AND message_id IS NULL`,
      [what.alertId, what.key],
    );
    if (!waits) return undefined;
  }
  const [row] = await db.unsafe(
    "SELECT * FROM storm_groups WHERE group_key = $1",
    [what.key],
  );
  return row ? toGroup(row) : undefined;
}

/** Writes a decision's plan (in the caller's transaction) and returns its result. */
export async function writePlan<T>(
  db: Db,
  plan: StormPlan<T>,
  at: Date,
): Promise<T> {
  if (plan.breaker) await write(db, BREAKER_UPSERT, plan.breaker);
  if (plan.group) await write(db, GROUP_UPSERT, plan.group);
  if (plan.window) await write(db, WINDOW_UPSERT, plan.window);
  for (const timer of plan.timers) await insertTimer(db, timer);
  const mark = plan.alert;
  if (mark?.suppressed) {
    await db.unsafe(
      `UPDATE alerts SET status = 'suppressed', fingerprint = $1, suppressed_by = $2, notified_id = $3,
      silence_id = $4, group_key = $5, lease_until = NULL, lease_owner = NULL, updated_at = $6
      WHERE id = $7`,
      [
        mark.fingerprint ?? null,
        mark.suppressed.reason,
        mark.suppressed.notifiedId ?? null,
        mark.suppressed.silenceId ?? null,
        mark.suppressed.groupKey ?? null,
        at.toISOString(),
        mark.id,
      ],
    );
  } else if (mark?.fingerprint) {
    await db.unsafe("UPDATE alerts SET fingerprint = $1 WHERE id = $2", [
      mark.fingerprint,
      mark.id,
    ]);
  }
  if (plan.silence) {
    await db.unsafe(
      "UPDATE silences SET suppressed = suppressed + 1 WHERE id = $1",
      [plan.silence],
    );
  }
  return plan.result;
}

/** Schedules a timer unless one with its id exists. */
export async function insertTimer(db: Db, timer: StormTimer): Promise<void> {
  await db.unsafe(
    "INSERT INTO storm_timers (id, kind, due_at, ref) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
    [timer.id, timer.kind, timer.due_at, JSON.stringify(timer.ref)],
  );
}

async function write<T>(db: Db, upsert: Upsert<T>, row: T): Promise<void> {
  await db.unsafe(upsert.postgres, upsert.params(row));
}
