/**
 * The retention step of the SQLite store: one small batch of finished alerts whose rendered email
 * (`message`) or whole body (`alert_json`, `enrichments`, `message`) is past its retention. Rows, their
 * status, subject, recipients, delivery outcome and action runs stay: they are the audit trail.
 *
 * @module
 */
import type { StatementSync } from "node:sqlite";
import type { PurgeCounts } from "../store.ts";

const FINISHED = "status IN ('delivered', 'not_sent', 'failed', 'suppressed')";

/**
 * Clears at most `limit` bodies and `limit` emails (an email whose whole body is due goes with the
 * body, counted once); returns what it cleared and the bytes freed.
 */
export function purgeBatch(
  sql: (text: string) => StatementSync,
  options: {
    alertsBefore: string;
    emailsBefore: string;
    limit: number;
    now: string;
  },
): PurgeCounts {
  const bodies = sql(
    `SELECT id, length(CAST(alert_json AS BLOB)) + COALESCE(length(CAST(enrichments AS BLOB)), 0)
       + COALESCE(length(CAST(message AS BLOB)), 0) AS bytes
     FROM alerts WHERE received_at < ? AND alert_json != '{}' AND ${FINISHED}
     ORDER BY received_at LIMIT ?`,
  ).all(options.alertsBefore, options.limit);
  const clearBody = sql(
    "UPDATE alerts SET alert_json = '{}', enrichments = NULL, message = NULL, updated_at = ? WHERE id = ?",
  );
  let bytes = 0;
  for (const row of bodies) {
    clearBody.run(options.now, row.id as string);
    bytes += Number(row.bytes);
  }
  const emails = sql(
    `SELECT id, length(CAST(message AS BLOB)) AS bytes
     FROM alerts WHERE received_at < ? AND message IS NOT NULL AND ${FINISHED}
       AND NOT (received_at < ? AND alert_json != '{}')
     ORDER BY received_at LIMIT ?`,
  ).all(options.emailsBefore, options.alertsBefore, options.limit);
  const clearEmail = sql(
    "UPDATE alerts SET message = NULL, updated_at = ? WHERE id = ?",
  );
  for (const row of emails) {
    clearEmail.run(options.now, row.id as string);
    bytes += Number(row.bytes);
  }
  return { alerts: bodies.length, emails: emails.length, bytes };
}
