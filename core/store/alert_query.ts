/**
 * The queries of the alert pages, which both stores run alike: the shapes of a grouped list
 * (`AlertGroup`), the filter of `listAlerts` and `listAlertGroups` as SQL conditions, and the acked
 * fingerprints of `/silences` (`listAcks`); the grouped SELECT itself is `alert_groups.ts`. The SQL
 * is one text for SQLite and PostgreSQL; a {@link Params} collector gives each its placeholders
 * (`:p1` or `$1`).
 *
 * @module
 */
import type { SuppressedBy } from "./storm_window.ts";
import { isCanonicalIso } from "../iso_time.ts";

/** Filter of an alert list, grouped or not; every field narrows it. */
export interface AlertFilter {
  detector?: string;
  status?: string;
  /**
   * A severity level (critical, high, medium, low). A suppressed alert, which has none of its own,
   * matches with the severity of the alert whose email covers it (`notified_id`).
   */
  severity?: string;
  /**
   * Alerts whose JSON contains this text (a value such as an IP or a host), case-sensitive: as typed,
   * or JSON-escaped (a value with quotes or backslashes, such as a Windows path).
   */
  text?: string;
  /** Received at or after this time (ISO 8601). */
  after?: string;
  /** Received at or before this time (ISO 8601). */
  until?: string;
  /** Suppressed for this reason. */
  suppressed_by?: SuppressedBy;
  /** Suppressed by this silence. */
  silence_id?: string;
}

/** A page of alerts (`Store.listAlerts`, whose `AlertQuery` narrows `status`), newest first. */
export interface AlertListQuery extends AlertFilter {
  limit?: number; // default 50
  before?: string; // received_at cursor
  fingerprint?: string;
  notified_id?: string;
  /** Alerts of one thread (with `detector`: core/pipeline threads a resolved alert onto its firing one). */
  thread_key?: string;
  /** Oldest first instead of newest first. */
  oldest_first?: boolean;
  /**
   * With `before`: the id of the last row already seen. Rows received exactly at `before` with a
   * smaller id come next, so alerts that share a `received_at` across a page boundary are not skipped.
   * Lists are ordered newest first, ties by id descending.
   */
  before_id?: string;
}

/**
 * What a group's next alert meets (the `/alerts` state column): `acked` (acked, and not quiet for its
 * detector's `ack_quiet` yet), `silenced` (its newest alert was held by a silence still active),
 * `suppressed` (its newest alert was held: inside the realert window, in a group batch, in storm
 * mode) or `notifying` (the next alert is mailed).
 */
export type GroupState = "notifying" | "suppressed" | "silenced" | "acked";

/** The states, in the order the filter offers them. */
export const GROUP_STATES: readonly GroupState[] = [
  "notifying",
  "suppressed",
  "silenced",
  "acked",
];

/** Groups in one state, as it is at `now` (each detector's acks last `ack_quiet`). */
export interface StateFilter {
  is: GroupState;
  /** ISO 8601. */
  now: string;
  /** `storm.ack_quiet` of each detector that has one, in milliseconds. */
  ackQuietMs: Record<string, number>;
  /** For a detector not in `ackQuietMs`. */
  defaultAckQuietMs: number;
}

/** A page of alert groups, newest last seen first. */
export interface AlertGroupQuery extends AlertFilter {
  /** Only groups in this state (decided before the page is cut, so pages stay full). */
  state?: StateFilter;
  /** @default 50 (at most 500) */
  limit?: number;
  /** Cursor: groups last seen before this time, or at it with a key below `before_key`. */
  before?: string;
  /** With `before`: the key of the last group already seen. */
  before_key?: string;
}

/** What a group row shows of one alert. */
export interface AlertSummary {
  id: string;
  detector: string;
  received_at: string;
  status: string;
  subject?: string;
  severity?: string;
  suppressed_by?: SuppressedBy;
  notified_id?: string;
  silence_id?: string;
  jira_keys: string[];
}

/** One group: the alerts of one fingerprint that match the filter, or one alert without a fingerprint. */
export interface AlertGroup {
  /** `f:<fingerprint>`, or `a:<alert id>` for an alert without one; the cursor's `before_key`. */
  key: string;
  fingerprint?: string;
  detector: string;
  /** Alerts of the group that match the filter. */
  count: number;
  /** The oldest and newest `received_at` among them. */
  first_seen_at: string;
  last_seen_at: string;
  /** The newest alert of the group (of the whole fingerprint, filter or not): its current state. */
  latest: AlertSummary;
  /** The alert whose email opened the fingerprint's current (or last) window. */
  notified?: AlertSummary;
  /** The fingerprint's storm window, when it has one. */
  window?: {
    paths: string[];
    values: string[];
    /** Alerts of the fingerprint ever seen. */
    total: number;
    window_end: string;
    last_seen_at: string;
    acked_by?: string;
    acked_at?: string;
  };
}

/** Collects parameters in the placeholder style of one database. */
export interface Params {
  readonly dialect: "sqlite" | "postgres";
  /** The placeholder of a new parameter holding `value`. */
  add(value: string | number): string;
}

/** Named parameters for node:sqlite (`:p1`, …), as `values`. */
export function sqliteParams(): Params & {
  values: Record<string, string | number>;
} {
  const values: Record<string, string | number> = {};
  let n = 0;
  return {
    dialect: "sqlite",
    values,
    add(value) {
      const name = `p${++n}`;
      values[name] = value;
      return `:${name}`;
    },
  };
}

/** Positional parameters for PostgreSQL (`$1`, …), as `values`. */
export function postgresParams(): Params & { values: (string | number)[] } {
  const values: (string | number)[] = [];
  return {
    dialect: "postgres",
    values,
    add: (value) => `$${values.push(value)}`,
  };
}

/** Normalises an ISO 8601 time to `toISOString()` form, which sorts as text. */
export function toIso(value: string, field: string): string {
  // Already in that form (as every time Blitz makes): as it is, without a Date (ingest's hot path).
  if (isCanonicalIso(value)) return value;
  const time = new Date(value);
  if (Number.isNaN(time.getTime())) {
    throw new RangeError(
      `Invalid ${field}: "${value}" is not an ISO 8601 time`,
    );
  }
  return time.toISOString();
}

/** The SQL conditions (joined with AND) that select the alerts `filter` asks for. */
export function filterConditions(
  filter: AlertFilter,
  params: Params,
): string[] {
  const where: string[] = [];
  for (
    const field of [
      "detector",
      "status",
      "suppressed_by",
      "silence_id",
    ] as const
  ) {
    const value = filter[field];
    if (value !== undefined) where.push(`${field} = ${params.add(value)}`);
  }
  if (filter.severity !== undefined) {
    // A suppressed alert is not enriched or rendered, so it has no severity of its own: it counts
    // with the severity of the alert whose email covers it.
    const level = params.add(filter.severity);
    where.push(
      `(severity = ${level} OR (severity IS NULL AND notified_id IS NOT NULL AND EXISTS (SELECT 1 FROM alerts n WHERE n.id = alerts.notified_id AND n.severity = ${level})))`,
    );
  }
  if (filter.text !== undefined && filter.text !== "") {
    const find = params.dialect === "sqlite" ? "instr" : "strpos";
    // As typed (a JSON fragment such as `"user":"bob"` too), or as the JSON text stores a value
    // with quotes or backslashes (`C:\Users` is `C:\\Users` in the JSON).
    const escaped = JSON.stringify(filter.text).slice(1, -1);
    where.push(
      escaped === filter.text
        ? `${find}(alert_json, ${params.add(filter.text)}) > 0`
        : `(${find}(alert_json, ${
          params.add(filter.text)
        }) > 0 OR ${find}(alert_json, ${params.add(escaped)}) > 0)`,
    );
  }
  if (filter.after !== undefined) {
    where.push(`received_at >= ${params.add(toIso(filter.after, "after"))}`);
  }
  if (filter.until !== undefined) {
    where.push(`received_at <= ${params.add(toIso(filter.until, "until"))}`);
  }
  return where;
}

/** The most rows one page of a list holds. */
export const MAX_LIMIT = 500;

/** The rows of a page when the query names no limit. */
export const DEFAULT_LIMIT = 50;

/**
 * The SELECT of `Store.listAlerts`: the alerts `query` asks for, newest first (oldest first with
 * `oldest_first`), after the `before`/`before_id` cursor; map its rows with `toAlert`.
 */
export function alertsSelect(query: AlertListQuery, params: Params): string {
  const limit = Math.min(query.limit ?? DEFAULT_LIMIT, MAX_LIMIT);
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`Invalid limit: ${query.limit}`);
  }
  const where = filterConditions(query, params);
  if (query.before !== undefined) {
    const before = params.add(toIso(query.before, "before"));
    where.push(
      query.before_id !== undefined
        ? `(received_at < ${before} OR (received_at = ${before} AND id < ${
          params.add(query.before_id)
        }))`
        : `received_at < ${before}`,
    );
  }
  for (const field of ["fingerprint", "notified_id", "thread_key"] as const) {
    const value = query[field];
    if (value !== undefined) where.push(`${field} = ${params.add(value)}`);
  }
  const filter = where.length > 0 ? `WHERE ${where.join(" AND ")}` : "";
  const order = query.oldest_first ? "ASC" : "DESC";
  return `SELECT * FROM alerts ${filter} ORDER BY received_at ${order}, id ${order} LIMIT ${
    params.add(limit)
  }`;
}

/** The acked fingerprints' windows, most recently acked first (`Store.listAcks`; map with `toWindow`). */
export function acksSelect(limit: number, params: Params): string {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`Invalid limit: ${limit}`);
  }
  return `SELECT * FROM storm_windows WHERE acked_at IS NOT NULL ORDER BY acked_at DESC, fingerprint DESC LIMIT ${
    params.add(Math.min(limit, MAX_LIMIT))
  }`;
}
