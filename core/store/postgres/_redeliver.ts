/**
 * The redelivery statements of the PostgreSQL store, mirroring `../sqlite/_redeliver.ts`: one
 * transaction finds the failed deliveries, re-queues those still "failed" and records the redelivery.
 * Each re-queue is an `UPDATE … WHERE status = 'failed'`: of two instances (or two commands)
 * redelivering one alert at once, the second waits for the first's row lock, then finds the row no
 * longer failed and changes (and records) nothing.
 *
 * @module
 */
import type { Sql, TransactionSql } from "postgres";
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

async function candidates(
  tx: TransactionSql,
  options: RedeliverOptions,
): Promise<{ id: string; row: RedeliveryRow | undefined }[]> {
  if (options.ids) {
    const out = [];
    for (const id of new Set(options.ids)) {
      const [row] = await tx.unsafe(`${ROW} WHERE id = $1`, [id]);
      out.push({ id, row: row ? toRow(row) : undefined });
    }
    return out;
  }
  const rows = await tx.unsafe(
    `${ROW} WHERE (status = 'failed' AND updated_at >= $1)
      OR id IN (SELECT alert_id FROM channel_deliveries WHERE status = 'failed' AND updated_at >= $1)
    ORDER BY received_at, id LIMIT $2`,
    [options.failedSince!.toISOString(), options.limit ?? 1000],
  );
  return rows.map((row) => ({ id: row.id as string, row: toRow(row) }));
}

function byKey(
  a: { channel: string; event: string },
  b: { channel: string; event: string },
): number {
  if (a.channel !== b.channel) return a.channel < b.channel ? -1 : 1;
  return a.event < b.event ? -1 : a.event > b.event ? 1 : 0;
}

/** Re-queues and records (or, dry, only reports) what `options` selects, in one transaction. */
export async function redeliverRows(
  sql: Sql,
  options: RedeliverOptions & { now: Date },
): Promise<RedeliverResult> {
  const at = options.now.toISOString();
  return await sql.begin(async (tx) => {
    const result: RedeliverResult = { redelivered: [], skipped: [] };
    for (const { id, row } of await candidates(tx, options)) {
      const channels = row
        ? (await tx.unsafe(
          "SELECT channel, event FROM channel_deliveries WHERE alert_id = $1 AND status = 'failed'",
          [id],
        )).map((c) => ({
          channel: c.channel as string,
          event: c.event as string,
        })).sort(byKey)
        : [];
      const planned = plannedRedelivery(id, row, channels, options);
      if ("skipped" in planned) {
        result.skipped.push({ alert_id: id, reason: planned.skipped });
        continue;
      }
      const { redelivery } = planned;
      if (!options.dryRun) {
        const email = redelivery.email && (await tx.unsafe(
              `UPDATE alerts SET status = CASE WHEN message IS NULL THEN 'queued' ELSE 'retry' END,
          attempts = 0, claims = 0, next_attempt_at = $1, lease_until = NULL, lease_owner = NULL,
          delivery = CASE WHEN message IS NULL THEN delivery ELSE '{"status":"pending"}' END,
          updated_at = $1 WHERE id = $2 AND status = 'failed'`,
              [at, id],
            )).count === 1;
        const requeued = channels.length === 0 ? [] : (await tx.unsafe(
          `UPDATE channel_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1,
          lease_until = NULL, updated_at = $1 WHERE alert_id = $2 AND status = 'failed'
          RETURNING channel, event`,
          [at, id],
        )).map((c) => ({
          channel: c.channel as string,
          event: c.event as string,
        })).sort(byKey);
        if (!email && requeued.length === 0) {
          result.skipped.push({ alert_id: id, reason: "redelivered already" });
          continue;
        }
        redelivery.email = email;
        redelivery.channels = requeued;
        await tx.unsafe(
          `INSERT INTO redeliveries (id, alert_id, detector, at, actor, source, email, channels,
            previous_attempts, previous_error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
          [
            redelivery.id,
            id,
            redelivery.detector,
            at,
            redelivery.actor,
            redelivery.source,
            email ? 1 : 0,
            JSON.stringify(requeued),
            redelivery.previous_attempts,
            redelivery.previous_error ?? null,
          ],
        );
      }
      result.redelivered.push(redelivery);
    }
    return result;
  }) as RedeliverResult;
}

/** The redeliveries of one alert, oldest first. */
export async function selectRedeliveries(
  sql: Sql,
  alertId: string,
): Promise<Redelivery[]> {
  const rows = await sql.unsafe(
    "SELECT * FROM redeliveries WHERE alert_id = $1 ORDER BY at, id",
    [alertId],
  );
  return rows.map(toRedelivery);
}
