/**
 * The retention step of the PostgreSQL store: one batch, as the SQLite store's (`../sqlite/_purge.ts`
 * clears the same fields), taken by one instance at a time: the batch runs under
 * `pg_try_advisory_xact_lock`, and an instance that does not get the lock clears nothing this round.
 *
 * @module
 */
import type { Sql } from "postgres";
import { RETENTION_LOCK } from "./_schema.ts";
import type { PurgeCounts } from "../store.ts";

const FINISHED = "status IN ('delivered', 'not_sent', 'failed')";

/** Clears at most `limit` bodies and `limit` emails, unless another instance is purging right now. */
export async function purgeBatch(
  sql: Sql,
  options: {
    alertsBefore: string;
    emailsBefore: string;
    limit: number;
    now: string;
  },
): Promise<PurgeCounts> {
  return await sql.begin(async (tx) => {
    const [lock] =
      await tx`SELECT pg_try_advisory_xact_lock(${RETENTION_LOCK}) AS got`;
    if (!lock?.got) return { alerts: 0, emails: 0, bytes: 0 };
    const bodies = await tx.unsafe(
      `UPDATE alerts SET alert_json = '{}', enrichments = NULL, message = NULL, updated_at = $3
      WHERE id IN (SELECT id FROM alerts WHERE received_at < $1 AND alert_json != '{}' AND ${FINISHED}
        ORDER BY received_at LIMIT $2)
      RETURNING (SELECT octet_length(a.alert_json) + COALESCE(octet_length(a.enrichments), 0)
        + COALESCE(octet_length(a.message), 0) FROM alerts a WHERE a.id = alerts.id) AS bytes`,
      [options.alertsBefore, options.limit, options.now],
    );
    const emails = await tx.unsafe(
      `UPDATE alerts SET message = NULL, updated_at = $4
      WHERE id IN (SELECT id FROM alerts WHERE received_at < $1 AND message IS NOT NULL AND ${FINISHED}
        AND NOT (received_at < $2 AND alert_json != '{}') ORDER BY received_at LIMIT $3)
      RETURNING (SELECT octet_length(a.message) FROM alerts a WHERE a.id = alerts.id) AS bytes`,
      [options.emailsBefore, options.alertsBefore, options.limit, options.now],
    );
    let bytes = 0;
    for (const row of [...bodies, ...emails]) bytes += Number(row.bytes);
    return { alerts: bodies.length, emails: emails.length, bytes };
  }) as PurgeCounts;
}
