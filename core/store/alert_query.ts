/**
 * The queries of the alert pages, which both stores run alike: the filter of `listAlerts` and
 * `listAlertGroups` as SQL conditions, the grouped SELECT behind `/alerts` (one row per storm
 * fingerprint, an alert without one being its own group) with the mapping of its rows, and the acked
 * fingerprints of `/silences` (`listAcks`). The SQL is one text for SQLite and
 * PostgreSQL; a {@link Params} collector gives each its placeholders (`:p1` or `$1`).
 *
 * The grouping is done in the database: the alerts that match the filter are grouped by fingerprint
 * (`GROUP BY`, counted, first and last seen), the page's groups are cut with `LIMIT` and a keyset
 * cursor (last seen, group key), and only then is each group's newest alert found through the
 * `(fingerprint, received_at)` index and joined with its storm window and its notified alert. No alert
 * body is read.
 *
 * @module
 */
import type { SuppressedBy } from "./storm_window.ts";

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

/** A page of alert groups, newest last seen first. */
export interface AlertGroupQuery extends AlertFilter {
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
  /** Of them, the suppressed ones. */
  suppressed: number;
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

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;
const GROUP_KEY =
  "CASE WHEN fingerprint IS NULL THEN 'a:' || id ELSE 'f:' || fingerprint END";
const SUMMARY = [
  "id",
  "detector",
  "received_at",
  "status",
  "subject",
  "severity",
  "suppressed_by",
  "notified_id",
  "silence_id",
  "jira_keys",
];

/** The grouped SELECT of one page of groups, newest last seen first. */
export function groupSelect(query: AlertGroupQuery, params: Params): string {
  const limit = Math.min(query.limit ?? DEFAULT_LIMIT, MAX_LIMIT);
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`Invalid limit: ${query.limit}`);
  }
  const where = filterConditions(query, params);
  const having: string[] = [];
  if (query.before !== undefined) {
    const before = params.add(toIso(query.before, "before"));
    having.push(
      query.before_key === undefined
        ? `max(received_at) < ${before}`
        : `(max(received_at) < ${before} OR (max(received_at) = ${before} AND ${GROUP_KEY} < ${
          params.add(query.before_key)
        }))`,
    );
  }
  const pick = (alias: string) =>
    SUMMARY.map((c) => `${alias}.${c} AS ${alias}_${c}`).join(", ");
  return `SELECT g.*, ${pick("l")}, ${pick("n")} FROM (
  SELECT p.*, w.notified_id AS w_notified_id, w.paths AS w_paths, w.fp_values AS w_values,
    w.total AS w_total, w.window_end AS w_window_end, w.last_seen_at AS w_last_seen_at,
    w.acked_by AS w_acked_by, w.acked_at AS w_acked_at,
    CASE WHEN p.fp IS NULL THEN p.one_id ELSE (SELECT a.id FROM alerts a WHERE a.fingerprint = p.fp
      ORDER BY a.received_at DESC LIMIT 1) END AS latest_id
  FROM (
    SELECT ${GROUP_KEY} AS gkey, max(fingerprint) AS fp, max(id) AS one_id, max(detector) AS detector,
      count(*) AS n, sum(CASE WHEN status = 'suppressed' THEN 1 ELSE 0 END) AS n_suppressed,
      min(received_at) AS first_seen, max(received_at) AS last_seen
    FROM alerts ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
    GROUP BY ${GROUP_KEY} ${
    having.length ? `HAVING ${having.join(" AND ")}` : ""
  }
    ORDER BY last_seen DESC, gkey DESC LIMIT ${params.add(limit)}
  ) p LEFT JOIN storm_windows w ON w.fingerprint = p.fp
) g LEFT JOIN alerts l ON l.id = g.latest_id LEFT JOIN alerts n ON n.id = g.w_notified_id
ORDER BY g.last_seen DESC, g.gkey DESC`;
}

type Row = Record<string, unknown>;

function summary(row: Row, alias: string): AlertSummary | undefined {
  const col = (name: string) => row[`${alias}_${name}`];
  if (col("id") == null) return undefined;
  const out: AlertSummary = {
    id: col("id") as string,
    detector: col("detector") as string,
    received_at: col("received_at") as string,
    status: col("status") as string,
    jira_keys: col("jira_keys") == null
      ? []
      : JSON.parse(col("jira_keys") as string),
  };
  for (
    const name of [
      "subject",
      "severity",
      "notified_id",
      "silence_id",
    ] as const
  ) {
    if (col(name) != null) out[name] = col(name) as string;
  }
  if (col("suppressed_by") != null) {
    out.suppressed_by = col("suppressed_by") as SuppressedBy;
  }
  return out;
}

/** The group a row of {@link groupSelect} holds. */
export function toGroup(row: Row): AlertGroup {
  const latest = summary(row, "l");
  if (!latest) {
    throw new Error(`Cannot read alert group "${row.gkey}": no newest alert`);
  }
  const group: AlertGroup = {
    key: row.gkey as string,
    detector: row.detector as string,
    count: Number(row.n),
    suppressed: Number(row.n_suppressed),
    first_seen_at: row.first_seen as string,
    last_seen_at: row.last_seen as string,
    latest,
  };
  if (row.fp != null) group.fingerprint = row.fp as string;
  const notified = summary(row, "n");
  if (notified) group.notified = notified;
  if (row.w_paths != null) {
    group.window = {
      paths: JSON.parse(row.w_paths as string),
      values: JSON.parse(row.w_values as string),
      total: Number(row.w_total),
      window_end: row.w_window_end as string,
      last_seen_at: row.w_last_seen_at as string,
    };
    if (row.w_acked_by != null) {
      group.window.acked_by = row.w_acked_by as string;
    }
    if (row.w_acked_at != null) {
      group.window.acked_at = row.w_acked_at as string;
    }
  }
  return group;
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
