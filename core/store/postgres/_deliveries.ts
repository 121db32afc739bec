/**
 * The channel outbox statements of the PostgreSQL store: queueing (alert, channel, event) deliveries
 * (idempotent on that key, across instances), claiming the due ones with `FOR UPDATE SKIP LOCKED` and
 * a lease (lapsed leases included: their instance died), recording an attempt's outcome, and listing an
 * alert's deliveries. The SQL mirrors `../sqlite/_deliveries.ts`.
 *
 * @module
 */
import type { Sql } from "postgres";
import { stringifyJson } from "../../json.ts";
import { toDelivery, toIso } from "../records.ts";
import type {
  ChannelDelivery,
  ChannelDeliveryKey,
  ChannelDeliveryPatch,
  NewChannelDelivery,
} from "../store.ts";

const FOREIGN_KEY_VIOLATION = "23503";

/** Inserts each delivery unless its key is recorded, all in one transaction. */
export async function insertDeliveryRows(
  sql: Sql,
  deliveries: NewChannelDelivery[],
  now: string,
): Promise<void> {
  if (deliveries.length === 0) return;
  let current: NewChannelDelivery | undefined;
  try {
    await sql.begin(async (tx) => {
      for (const d of deliveries) {
        current = d;
        await tx.unsafe(
          `INSERT INTO channel_deliveries (alert_id, channel, event, type, status, attempts, created_at,
            updated_at, next_attempt_at, payload) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5, $6, $7)
          ON CONFLICT (alert_id, channel, event) DO NOTHING`,
          [
            d.alert_id,
            d.channel,
            d.event,
            d.type,
            now,
            d.next_attempt_at === undefined
              ? now
              : toIso(d.next_attempt_at, "next_attempt_at"),
            stringifyJson(d.payload),
          ],
        );
      }
    });
  } catch (err) {
    if ((err as { code?: unknown }).code !== FOREIGN_KEY_VIOLATION) throw err;
    throw new Error(
      `Cannot queue a ${current?.channel} delivery for alert "${current?.alert_id}": no such alert`,
      { cause: err },
    );
  }
}

/** Leases up to `limit` due deliveries (pending and due, or sending with a lapsed lease), oldest due first. */
export async function claimDueDeliveries(
  sql: Sql,
  options: { now: Date; leaseMs: number; limit: number },
): Promise<ChannelDelivery[]> {
  const at = options.now.toISOString();
  const lease = new Date(options.now.getTime() + options.leaseMs)
    .toISOString();
  const rows = await sql.unsafe(
    `WITH picked AS (
      SELECT alert_id, channel, event FROM channel_deliveries
      WHERE (status = 'pending' AND next_attempt_at <= $1)
         OR (status = 'sending' AND lease_until <= $1)
      ORDER BY next_attempt_at, seq LIMIT $2
      FOR UPDATE SKIP LOCKED)
    UPDATE channel_deliveries d SET status = 'sending', lease_until = $3, updated_at = $1
    FROM picked WHERE d.alert_id = picked.alert_id AND d.channel = picked.channel AND d.event = picked.event
    RETURNING d.*`,
    [at, options.limit, lease],
  );
  return [...rows].sort((a, b) =>
    a.next_attempt_at === b.next_attempt_at
      ? Number(a.seq) - Number(b.seq)
      : a.next_attempt_at < b.next_attempt_at
      ? -1
      : 1
  ).map(toDelivery);
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
export async function updateDeliveryRow(
  sql: Sql,
  key: ChannelDeliveryKey,
  patch: ChannelDeliveryPatch,
  now: string,
): Promise<void> {
  const params: (string | number | null)[] = [
    key.alert_id,
    key.channel,
    key.event,
    now,
  ];
  const sets = ["updated_at = $4"];
  for (const field of PATCHABLE) {
    if (!(field in patch)) continue;
    const value = patch[field];
    sets.push(`${field} = $${
      params.push(
        value === undefined
          ? null
          : field === "result"
          ? stringifyJson(value)
          : field === "next_attempt_at" || field === "delivered_at" ||
              field === "lease_until"
          ? toIso(value as string, field)
          : value as string | number,
      )
    }`);
  }
  const result = await sql.unsafe(
    `UPDATE channel_deliveries SET ${sets.join(", ")}
    WHERE alert_id = $1 AND channel = $2 AND event = $3`,
    params,
  );
  if (result.count === 0) {
    throw new Error(
      `Cannot update the ${key.channel} delivery of alert "${key.alert_id}": no such delivery`,
    );
  }
}

/** The deliveries of one alert, oldest first. */
export async function selectDeliveries(
  sql: Sql,
  alertId: string,
): Promise<ChannelDelivery[]> {
  const rows = await sql.unsafe(
    "SELECT * FROM channel_deliveries WHERE alert_id = $1 ORDER BY created_at, seq",
    [alertId],
  );
  return rows.map(toDelivery);
}
