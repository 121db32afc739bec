/**
 * The redelivery step of the SQLite store: finds alerts whose delivery failed for good, puts the
 * failed email and channel deliveries back in the queue and records who did it, inside the caller's
 * one write transaction. Each re-queue is conditional on the row still being "failed", so of two
 * redeliveries at once (two processes: SQLite's write lock orders them) only the first re-queues and
 * is recorded.
 *
 * @module
 */
import type { StatementSync } from "node:sqlite";
import {
  plannedRedelivery,
  type RedeliveryRow,
  toRedelivery,
} from "../records.ts";
import type {
  RedeliverOptions,
  RedeliverResult,
  Redelivery,
} from "../store.ts";

type Sql = (sql: string) => StatementSync;

const ROW =
  `SELECT id, detector, status, attempts, last_error, message IS NOT NULL AS has_message,
  subject IS NOT NULL AS composed, alert_json = '{}' AS purged FROM alerts`;

function toRow(row: Record<string, unknown>): RedeliveryRow {
  return {
    id: row.id as string,
    detector: row.detector as string,
    status: row.status as string,
    attempts: Number(row.attempts),
    last_error: row.last_error as string | null,
    has_message: Boolean(row.has_message),
    composed: Boolean(row.composed),
    purged: Boolean(row.purged),
  };
}

/** The alerts to look at: the given ones (in order), or those that failed since a time. */
function candidates(
  sql: Sql,
  options: RedeliverOptions,
): { id: string; row: RedeliveryRow | undefined }[] {
  if (options.ids) {
    const one = sql(`${ROW} WHERE id = ?`);
    return [...new Set(options.ids)].map((id) => {
      const row = one.get(id);
      return { id, row: row ? toRow(row) : undefined };
    });
  }
  const since = options.failedSince!.toISOString();
  return sql(
    `${ROW} WHERE (status = 'failed' AND updated_at >= :since)
      OR id IN (SELECT alert_id FROM channel_deliveries WHERE status = 'failed' AND updated_at >= :since)
    ORDER BY received_at, id LIMIT :limit`,
  ).all({ since, limit: options.limit ?? 1000 }).map((row) => ({
    id: row.id as string,
    row: toRow(row),
  }));
}

/** Re-queues and records (or, dry, only reports) what `options` selects. */
export function redeliverRows(
  sql: Sql,
  options: RedeliverOptions & { now: Date },
): RedeliverResult {
  const at = options.now.toISOString();
  const result: RedeliverResult = { redelivered: [], skipped: [] };
  const failedChannels = sql(
    `SELECT channel, event FROM channel_deliveries WHERE alert_id = ? AND status = 'failed'
    ORDER BY channel, event`,
  );
  for (const { id, row } of candidates(sql, options)) {
    const channels = row
      ? failedChannels.all(id).map((c) => ({
        channel: c.channel as string,
        event: c.event as string,
      }))
      : [];
    const planned = plannedRedelivery(id, row, channels, options);
    if ("skipped" in planned) {
      result.skipped.push({ alert_id: id, reason: planned.skipped });
      continue;
    }
    const { redelivery } = planned;
    if (!options.dryRun) {
      const requeued = requeue(sql, redelivery, at);
      if (!requeued.email && requeued.channels.length === 0) {
        result.skipped.push({ alert_id: id, reason: "redelivered already" });
        continue;
      }
      Object.assign(redelivery, requeued);
      record(sql, redelivery);
    }
    result.redelivered.push(redelivery);
  }
  return result;
}

/** The re-queue itself: only rows still "failed" change. Returns what changed. */
function requeue(
  sql: Sql,
  redelivery: Redelivery,
  at: string,
): Pick<Redelivery, "email" | "channels"> {
  const email = redelivery.email &&
    Number(
        sql(
          `UPDATE alerts SET status = CASE WHEN message IS NULL THEN 'queued' ELSE 'retry' END,
          attempts = 0, claims = 0, next_attempt_at = :at, lease_until = NULL,
          delivery = CASE WHEN message IS NULL THEN delivery ELSE '{"status":"pending"}' END,
          updated_at = :at WHERE id = :id AND status = 'failed'`,
        ).run({ at, id: redelivery.alert_id }).changes,
      ) === 1;
  const channels = redelivery.channels.length === 0 ? [] : sql(
    `UPDATE channel_deliveries SET status = 'pending', attempts = 0, next_attempt_at = :at,
    lease_until = NULL, updated_at = :at WHERE alert_id = :id AND status = 'failed'
    RETURNING channel, event`,
  ).all({ at, id: redelivery.alert_id }).map((c) => ({
    channel: c.channel as string,
    event: c.event as string,
  })).sort((a, b) =>
    a.channel === b.channel
      ? (a.event < b.event ? -1 : 1)
      : a.channel < b.channel
      ? -1
      : 1
  );
  return { email, channels };
}

function record(sql: Sql, r: Redelivery): void {
  sql(
    `INSERT INTO redeliveries (id, alert_id, detector, at, actor, source, email, channels,
      previous_attempts, previous_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    r.id,
    r.alert_id,
    r.detector,
    r.at,
    r.actor,
    r.source,
    r.email ? 1 : 0,
    JSON.stringify(r.channels),
    r.previous_attempts,
    r.previous_error ?? null,
  );
}

/** The redeliveries of one alert, oldest first. */
export function selectRedeliveries(sql: Sql, alertId: string): Redelivery[] {
  return sql(
    "SELECT * FROM redeliveries WHERE alert_id = ? ORDER BY at, id",
  ).all(alertId).map(toRedelivery);
}
