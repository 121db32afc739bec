/**
 * The channel outbox steps of the SQLite store: queueing (alert, channel, event) deliveries, claiming
 * the due ones with a lease, recording an attempt's outcome, and listing an alert's deliveries. They run
 * inside the caller's write (or read); `sql` returns the store's cached statement.
 *
 * @module
 */
import { stringifyJson } from "../../json.ts";
import type { StatementSync } from "node:sqlite";
import { toDelivery, toIso } from "./_schema.ts";
import type {
  ChannelDelivery,
  ChannelDeliveryKey,
  ChannelDeliveryPatch,
  NewChannelDelivery,
} from "../store.ts";

type Sql = (sql: string) => StatementSync;
const SQLITE_CONSTRAINT_FOREIGNKEY = 787;

/** Inserts each delivery unless its key is recorded (then the recorded one stays as it is). */
export function insertDeliveryRows(
  sql: Sql,
  deliveries: NewChannelDelivery[],
  now: string,
): void {
  const insert = sql(
    `INSERT INTO channel_deliveries (alert_id, channel, event, type, status, attempts, created_at,
      updated_at, next_attempt_at, payload) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?)
    ON CONFLICT (alert_id, channel, event) DO NOTHING`,
  );
  for (const d of deliveries) {
    try {
      insert.run(
        d.alert_id,
        d.channel,
        d.event,
        d.type,
        now,
        now,
        d.next_attempt_at === undefined
          ? now
          : toIso(d.next_attempt_at, "next_attempt_at"),
        stringifyJson(d.payload),
      );
    } catch (err) {
      if (
        (err as { errcode?: unknown }).errcode !== SQLITE_CONSTRAINT_FOREIGNKEY
      ) throw err;
      throw new Error(
        `Cannot queue a ${d.channel} delivery for alert "${d.alert_id}": no such alert`,
        { cause: err },
      );
    }
  }
}

/** Leases up to `limit` due deliveries (pending and due, or sending with a lapsed lease), oldest due first. */
export function claimDueDeliveries(
  sql: Sql,
  options: { now: Date; leaseMs: number; limit: number },
): ChannelDelivery[] {
  const at = options.now.toISOString();
  const lease = new Date(options.now.getTime() + options.leaseMs)
    .toISOString();
  const due = sql(
    `SELECT rowid AS seq FROM channel_deliveries
    WHERE (status = 'pending' AND next_attempt_at <= :at)
       OR (status = 'sending' AND lease_until <= :at)
    ORDER BY next_attempt_at, rowid LIMIT :limit`,
  ).all({ at, limit: options.limit });
  const claim = sql(
    `UPDATE channel_deliveries SET status = 'sending', lease_until = ?, updated_at = ?
    WHERE rowid = ? RETURNING *`,
  );
  return due.map((row) => toDelivery(claim.get(lease, at, row.seq!)!));
}

const PATCHABLE = [
  "status",
  "attempts",
  "next_attempt_at",
  "last_error",
  "delivered_at",
  "result",
  "lease_until",
] as const;

/** Applies `patch` to one delivery; throws when there is none with that key. */
export function updateDeliveryRow(
  sql: Sql,
  key: ChannelDeliveryKey,
  patch: ChannelDeliveryPatch,
  now: string,
): void {
  const sets = ["updated_at = :updated_at"];
  const params: Record<string, string | number | null> = {
    alert_id: key.alert_id,
    channel: key.channel,
    event: key.event,
    updated_at: now,
  };
  for (const field of PATCHABLE) {
    if (!(field in patch)) continue;
    const value = patch[field];
    sets.push(`${field} = :${field}`);
    params[field] = value === undefined
      ? null
      : field === "result"
      ? stringifyJson(value)
      : field === "next_attempt_at" || field === "delivered_at" ||
          field === "lease_until"
      ? toIso(value as string, field)
      : value as string | number;
  }
  const { changes } = sql(
    `UPDATE channel_deliveries SET ${sets.join(", ")}
    WHERE alert_id = :alert_id AND channel = :channel AND event = :event`,
  ).run(params);
  if (Number(changes) === 0) {
    throw new Error(
      `Cannot update the ${key.channel} delivery of alert "${key.alert_id}": no such delivery`,
    );
  }
}

/** The deliveries of one alert, oldest first. */
export function selectDeliveries(sql: Sql, alertId: string): ChannelDelivery[] {
  return sql(
    "SELECT * FROM channel_deliveries WHERE alert_id = ? ORDER BY created_at, rowid",
  ).all(alertId).map(toDelivery);
}
