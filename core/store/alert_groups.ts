/**
 * The grouped SELECT behind `/alerts` (`Store.listAlertGroups`), one SQL text for SQLite and
 * PostgreSQL, and the mapping of its rows. A group is the alerts of one storm fingerprint that match
 * the filter, or one alert without a fingerprint; groups come newest last seen first, cut with
 * `LIMIT` and a keyset cursor (last seen, group key). Only the page's groups then get their newest
 * alert (through the `(fingerprint, received_at)` index), their storm window and their notified
 * alert joined. No alert body is read.
 *
 * Two plans, chosen by the filter, with the same result:
 * - filtered by no more than time and detector (the default page): fingerprinted alerts are grouped
 *   from the partial index `alerts_fingerprint (fingerprint, received_at)` alone (a covering index:
 *   no table row read, so an alert's stored email never is), the detector through its windows;
 *   alerts without a fingerprint come newest first through `alerts_received`, stopping at the page;
 * - any other filter (search, status, severity, reason, silence) reads the matching alerts and
 *   groups them with one `GROUP BY`.
 *
 * A state filter (`state`: notifying, suppressed, silenced, acked) needs each group's newest alert and
 * window, so it is applied to every group after the cursor, and the page is cut after it.
 *
 * @module
 */
import {
  type AlertGroup,
  type AlertGroupQuery,
  type AlertSummary,
  DEFAULT_LIMIT,
  filterConditions,
  MAX_LIMIT,
  type Params,
  type StateFilter,
  toIso,
} from "./alert_query.ts";
import type { SuppressedBy } from "./storm_window.ts";

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

/**
 * The SQL of a group's state (see `GroupState`) over the joined row: `g` the group with its window
 * (`w_*`), `l` its newest alert. The rule `routes/_alert_list.ts` `stateOf` shows, in SQL.
 */
function stateSql(state: StateFilter, params: Params): string {
  const now = params.add(toIso(state.now, "now"));
  const at = Date.parse(state.now);
  const quietFrom = (ms: number) => params.add(new Date(at - ms).toISOString());
  const detectors = Object.entries(state.ackQuietMs);
  const ackFrom = detectors.length === 0
    ? quietFrom(state.defaultAckQuietMs)
    : `CASE g.w_detector ${
      detectors.map(([name, ms]) =>
        `WHEN ${params.add(name)} THEN ${quietFrom(ms)}`
      ).join(" ")
    } ELSE ${quietFrom(state.defaultAckQuietMs)} END`;
  return `CASE
    WHEN g.w_acked_at IS NOT NULL AND g.w_last_seen_at > ${ackFrom} THEN 'acked'
    WHEN l.status <> 'suppressed' THEN 'notifying'
    WHEN l.suppressed_by = 'silence' THEN CASE WHEN EXISTS (SELECT 1 FROM silences s
      WHERE s.id = l.silence_id AND s.starts_at <= ${now} AND s.ends_at > ${now}) THEN 'silenced'
      ELSE 'notifying' END
    WHEN l.suppressed_by IN ('realert', 'ack') THEN CASE WHEN g.w_window_end > ${now}
      THEN 'suppressed' ELSE 'notifying' END
    ELSE 'suppressed' END`;
}

/** Whether the filter needs only what `alerts_fingerprint` holds (time), or the windows (detector). */
function indexOnly(query: AlertGroupQuery): boolean {
  return query.text === undefined && query.status === undefined &&
    query.severity === undefined && query.suppressed_by === undefined &&
    query.silence_id === undefined;
}

/** `received_at` within `after`/`until`. */
function timeConditions(query: AlertGroupQuery, params: Params): string[] {
  return filterConditions(
    {
      ...(query.after !== undefined ? { after: query.after } : {}),
      ...(query.until !== undefined ? { until: query.until } : {}),
    },
    params,
  );
}

/**
 * The page's groups (gkey, fp, one_id, n, first_seen, last_seen), newest last seen first; every group
 * after the cursor when `limit` is undefined (a state filter cuts the page later).
 */
function pageOfGroups(
  query: AlertGroupQuery,
  params: Params,
  limit: string | undefined,
): string {
  const cut = limit === undefined ? "" : `LIMIT ${limit}`;
  const before = query.before === undefined
    ? undefined
    : params.add(toIso(query.before, "before"));
  const key = before && query.before_key !== undefined
    ? params.add(query.before_key)
    : undefined;
  const cursor = (last: string, gkey: string) =>
    before === undefined ? [] : [
      key === undefined
        ? `${last} < ${before}`
        : `(${last} < ${before} OR (${last} = ${before} AND ${gkey} < ${key}))`,
    ];
  const and = (conditions: string[]) =>
    conditions.length ? `WHERE ${conditions.join(" AND ")}` : "";
  if (!indexOnly(query)) {
    const having = cursor("max(received_at)", GROUP_KEY);
    return `SELECT ${GROUP_KEY} AS gkey, max(fingerprint) AS fp, max(id) AS one_id,
      count(*) AS n, min(received_at) AS first_seen, max(received_at) AS last_seen
    FROM alerts ${and(filterConditions(query, params))}
    GROUP BY ${GROUP_KEY} ${having.length ? `HAVING ${having[0]}` : ""}
    ORDER BY last_seen DESC, gkey DESC ${cut}`;
  }
  const time = timeConditions(query, params);
  const detector = query.detector === undefined
    ? undefined
    : params.add(query.detector);
  const fingerprinted = [
    "fingerprint IS NOT NULL",
    ...time,
    ...(detector
      ? [
        `fingerprint IN (SELECT fingerprint FROM storm_windows WHERE detector = ${detector})`,
      ]
      : []),
  ];
  const plain = [
    "fingerprint IS NULL",
    ...time,
    ...(detector ? [`detector = ${detector}`] : []),
    ...cursor("received_at", "'a:' || id"),
  ];
  const having = cursor("max(received_at)", "'f:' || fingerprint");
  return `SELECT * FROM (
      SELECT 'f:' || fingerprint AS gkey, fingerprint AS fp, NULL AS one_id, count(*) AS n,
        min(received_at) AS first_seen, max(received_at) AS last_seen
      FROM alerts ${and(fingerprinted)}
      GROUP BY fingerprint ${having.length ? `HAVING ${having[0]}` : ""}
      ORDER BY last_seen DESC, gkey DESC ${cut}
    ) f UNION ALL SELECT * FROM (
      SELECT 'a:' || id AS gkey, NULL AS fp, id AS one_id, 1 AS n, received_at AS first_seen,
        received_at AS last_seen
      FROM alerts ${and(plain)}
      ORDER BY received_at DESC, id DESC ${cut}
    ) a
    ORDER BY last_seen DESC, gkey DESC ${cut}`;
}

/** The grouped SELECT of one page of groups, newest last seen first. */
export function groupSelect(query: AlertGroupQuery, params: Params): string {
  const count = Math.min(query.limit ?? DEFAULT_LIMIT, MAX_LIMIT);
  if (!Number.isInteger(count) || count < 1) {
    throw new RangeError(`Invalid limit: ${query.limit}`);
  }
  const limit = params.add(count);
  const page = pageOfGroups(
    query,
    params,
    query.state ? undefined : limit,
  );
  const pick = (alias: string) =>
    SUMMARY.map((c) => `${alias}.${c} AS ${alias}_${c}`).join(", ");
  const state = query.state
    ? `WHERE ${stateSql(query.state, params)} = ${params.add(query.state.is)}`
    : "";
  return `SELECT g.*, ${pick("l")}, ${pick("n")} FROM (
  SELECT p.*, w.detector AS w_detector, w.notified_id AS w_notified_id, w.paths AS w_paths, w.fp_values AS w_values,
    w.total AS w_total, w.window_end AS w_window_end, w.last_seen_at AS w_last_seen_at,
    w.acked_by AS w_acked_by, w.acked_at AS w_acked_at,
    CASE WHEN p.fp IS NULL THEN p.one_id ELSE (SELECT a.id FROM alerts a WHERE a.fingerprint = p.fp
      ORDER BY a.received_at DESC LIMIT 1) END AS latest_id
  FROM (${page}) p LEFT JOIN storm_windows w ON w.fingerprint = p.fp
) g LEFT JOIN alerts l ON l.id = g.latest_id LEFT JOIN alerts n ON n.id = g.w_notified_id
${state}
ORDER BY g.last_seen DESC, g.gkey DESC${query.state ? ` LIMIT ${limit}` : ""}`;
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
    const name of ["subject", "severity", "notified_id", "silence_id"] as const
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
    // One fingerprint hashes one detector: the newest alert's is the group's.
    detector: latest.detector,
    count: Number(row.n),
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
