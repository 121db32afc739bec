/**
 * The lease statements of the PostgreSQL store. A claim locks the oldest due rows with
 * `FOR UPDATE SKIP LOCKED`, so instances claiming at the same moment take different alerts and never
 * wait for each other, and stamps each with this instance as the lease's owner and its expiry. The
 * owner renews its leases while it works; a lease that lapsed (its instance died) is put back by any
 * instance's `requeueStale`.
 *
 * @module
 */
import type { Sql } from "postgres";
import { toAlert } from "../records.ts";
import {
  type AlertRecord,
  type QuarantinedAlert,
  quarantineReason,
} from "../store.ts";

/** Leases up to `limit` due alerts to `owner`, oldest first. */
export async function claimDue(
  sql: Sql,
  options: { now: Date; leaseMs: number; limit: number; owner: string },
): Promise<AlertRecord[]> {
  const at = options.now.toISOString();
  const lease = new Date(options.now.getTime() + options.leaseMs)
    .toISOString();
  const rows = await sql.unsafe(
    `WITH picked AS (
      SELECT id FROM alerts
      WHERE status IN ('queued', 'retry')
        AND (status = 'queued' OR next_attempt_at IS NULL OR next_attempt_at <= $1)
      ORDER BY received_at, seq LIMIT $2
      FOR UPDATE SKIP LOCKED)
    UPDATE alerts SET status = 'processing', lease_until = $3, lease_owner = $4, updated_at = $1,
      claims = alerts.claims + 1
    FROM picked WHERE alerts.id = picked.id RETURNING alerts.*`,
    [at, options.limit, lease, options.owner],
  );
  // RETURNING keeps no order: oldest first, as the claim chose them.
  return [...rows].sort((a, b) =>
    a.received_at === b.received_at
      ? Number(a.seq) - Number(b.seq)
      : a.received_at < b.received_at
      ? -1
      : 1
  ).map(toAlert);
}

/**
 * Extends to `until` the leases `owner` holds on `ids` (the alerts its workers are on); returns how
 * many. An alert whose outcome could not be written is not among them: its lease lapses and any
 * instance takes it over.
 */
export async function renewLeases(
  sql: Sql,
  options: { owner: string; until: Date; ids: string[] },
): Promise<number> {
  if (options.ids.length === 0) return 0;
  const result = await sql.unsafe(
    `UPDATE alerts SET lease_until = $1 WHERE status = 'processing' AND lease_owner = $2
    AND id IN (SELECT jsonb_array_elements_text($3::text::jsonb))`,
    [options.until.toISOString(), options.owner, JSON.stringify(options.ids)],
  );
  return result.count;
}

/**
 * Requeues processing alerts whose lease lapsed before `now` (every one with `all`), quarantining as
 * "failed" those interrupted `quarantineAfter` times in a row; returns how many were requeued.
 */
export async function requeueLapsed(
  sql: Sql,
  options: { now: Date; all?: boolean | undefined; quarantineAfter: number },
  quarantined: QuarantinedAlert[] = [],
): Promise<number> {
  const stale = options.all
    ? ""
    : "AND (lease_until IS NULL OR lease_until < $1)";
  const n = options.quarantineAfter;
  const reason = quarantineReason(n);
  // The claims before the reset, for the log line: read under the rows' locks in the same statement.
  const pills = await sql.unsafe(
    `WITH pill AS (
      SELECT id, claims FROM alerts WHERE status = 'processing' ${stale} AND claims >= $3
      FOR UPDATE)
    UPDATE alerts SET status = 'failed', lease_until = NULL, lease_owner = NULL, claims = 0,
    updated_at = $1, last_error = $2 FROM pill WHERE alerts.id = pill.id
    RETURNING alerts.id, alerts.detector, pill.claims AS attempts`,
    [options.now.toISOString(), reason, n],
  );
  for (const pill of pills) {
    quarantined.push({
      id: pill.id as string,
      detector: pill.detector as string,
      attempts: Number(pill.attempts),
      reason,
    });
  }
  const result = await sql.unsafe(
    `UPDATE alerts SET status = 'queued', lease_until = NULL, lease_owner = NULL, updated_at = $1
    WHERE status = 'processing' ${stale}`,
    [options.now.toISOString()],
  );
  return result.count;
}
