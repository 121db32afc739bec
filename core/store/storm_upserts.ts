/**
 * The three upserts a storm decision's plan writes (`storm_plan.ts`): the detector's breaker, the
 * group's batch and the fingerprint's window. One SQL text serves both stores, with PostgreSQL's
 * `$n` placeholders and, for SQLite, the same numbers as `?n`; each comes with its row's parameters
 * in order.
 *
 * @module
 */
import type { BreakerState, StormGroup } from "./storm_rules.ts";
import type { StormWindow } from "./storm_window.ts";

type Param = string | number | null;

/** An upsert and its parameters for one row. */
export interface Upsert<T> {
  postgres: string;
  sqlite: string;
  params(row: T): Param[];
}

function upsert<T>(sql: string, params: (row: T) => Param[]): Upsert<T> {
  return { postgres: sql, sqlite: sql.replace(/\$(\d+)/g, "?$1"), params };
}

/** The detector's breaker, inserted or replaced whole. */
export const BREAKER_UPSERT: Upsert<BreakerState> = upsert(
  `INSERT INTO storm_breaker (detector, mode, bucket_start, bucket_count, prev_count, on_since, period_start, period_count)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
  ON CONFLICT (detector) DO UPDATE SET mode = excluded.mode, bucket_start = excluded.bucket_start,
    bucket_count = excluded.bucket_count, prev_count = excluded.prev_count, on_since = excluded.on_since,
    period_start = excluded.period_start, period_count = excluded.period_count`,
  (s) => [
    s.detector,
    s.mode,
    s.bucket_start,
    s.bucket_count,
    s.prev_count,
    s.on_since ?? null,
    s.period_start ?? null,
    s.period_count,
  ],
);

/** A group's batch: a new group inserted whole, an existing one given its new send and flush times. */
export const GROUP_UPSERT: Upsert<StormGroup> = upsert(
  `INSERT INTO storm_groups (group_key, detector, paths, fp_values, last_sent_at, flush_at)
  VALUES ($1, $2, $3, $4, $5, $6)
  ON CONFLICT (group_key) DO UPDATE SET last_sent_at = excluded.last_sent_at,
    flush_at = excluded.flush_at`,
  (g) => [
    g.group_key,
    g.detector,
    JSON.stringify(g.paths),
    JSON.stringify(g.values),
    g.last_sent_at ?? null,
    g.flush_at ?? null,
  ],
);

/**
 * A fingerprint's window: a new window inserted whole; an existing one keeps its detector,
 * definition, paths, values and first sighting.
 */
export const WINDOW_UPSERT: Upsert<StormWindow> = upsert(
  `INSERT INTO storm_windows (fingerprint, detector, definition, paths, fp_values, notified_id, notified_at,
    window_ms, window_end, since_count, total, first_seen_at, last_seen_at, acked_by, acked_at, resolved_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
  ON CONFLICT (fingerprint) DO UPDATE SET notified_id = excluded.notified_id,
    notified_at = excluded.notified_at, window_ms = excluded.window_ms, window_end = excluded.window_end,
    since_count = excluded.since_count, total = excluded.total, last_seen_at = excluded.last_seen_at,
    acked_by = excluded.acked_by, acked_at = excluded.acked_at, resolved_at = excluded.resolved_at`,
  (w) => [
    w.fingerprint,
    w.detector,
    w.definition,
    JSON.stringify(w.paths),
    JSON.stringify(w.values),
    w.notified_id ?? null,
    w.notified_at ?? null,
    w.window_ms,
    w.window_end,
    w.since_count,
    w.total,
    w.first_seen_at,
    w.last_seen_at,
    w.acked_by ?? null,
    w.acked_at ?? null,
    w.resolved_at ?? null,
  ],
);
