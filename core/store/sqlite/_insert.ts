/**
 * The insert step of the SQLite store: a new alert's row, and the lookup that finds an alert already
 * stored under the same idempotency key. Both run inside the caller's write; `sql` returns the store's
 * cached statement.
 *
 * @module
 */
import { stringifyJson } from "../../json.ts";
import type { StatementSync } from "node:sqlite";
import { toIso } from "./_schema.ts";
import type { NewAlert } from "../store.ts";

/** Inserts `alert`, stamped `now` (an ISO string), queued unless it says otherwise. */
export function insertAlert(
  sql: (sql: string) => StatementSync,
  alert: NewAlert,
  options: { now: string },
): void {
  const { now } = options;
  sql(
    `INSERT INTO alerts (id, detector, received_at, updated_at, status, alert_json, idempotency_key)
    VALUES (?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    alert.id,
    alert.detector,
    alert.received_at === undefined
      ? now
      : toIso(alert.received_at, "received_at"),
    now,
    alert.status ?? "queued",
    alert.alert_json ?? stringifyJson(alert.alert), // big integers digit for digit
    alert.idempotency_key ?? null,
  );
}

/** The id of the alert already stored with `alert`'s detector and idempotency key, if any. */
export function findDuplicate(
  sql: (sql: string) => StatementSync,
  alert: NewAlert,
): string | undefined {
  if (alert.idempotency_key === undefined) return undefined;
  const found = sql(
    "SELECT id FROM alerts WHERE detector = ? AND idempotency_key = ?",
  ).get(alert.detector, alert.idempotency_key);
  return found ? String(found.id) : undefined;
}
