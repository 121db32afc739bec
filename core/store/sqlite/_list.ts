/**
 * The `listAlerts`, `listAlertGroups` and `listAcks` steps of the SQLite store: turn a query into
 * one SELECT and its named parameters, newest first (the filter and the grouped SELECT are
 * `../alert_query.ts` and `../alert_groups.ts`, shared with PostgreSQL). Pure: they touch no
 * database.
 *
 * @module
 */
import {
  acksSelect,
  type AlertGroupQuery,
  filterConditions,
  sqliteParams,
} from "../alert_query.ts";
import { groupSelect } from "../alert_groups.ts";
import { toIso } from "./_schema.ts";
import type { AlertQuery } from "../store.ts";

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;

/** The SELECT that lists the alerts `query` asks for, with its parameters. */
export function alertSelect(
  query: AlertQuery,
): { sql: string; params: Record<string, string | number> } {
  const limit = Math.min(query.limit ?? DEFAULT_LIMIT, MAX_LIMIT);
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`Invalid limit: ${query.limit}`);
  }
  const params = sqliteParams();
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
  for (
    const field of [
      "fingerprint",
      "notified_id",
      "thread_key",
    ] as const
  ) {
    const value = query[field];
    if (value !== undefined) where.push(`${field} = ${params.add(value)}`);
  }
  const filter = where.length > 0 ? `WHERE ${where.join(" AND ")}` : "";
  const order = query.oldest_first ? "ASC" : "DESC";
  return {
    sql:
      `SELECT * FROM alerts ${filter} ORDER BY received_at ${order}, id ${order} LIMIT ${
        params.add(limit)
      }`,
    params: params.values,
  };
}

/** The grouped SELECT of one page of `/alerts` groups, with its parameters. */
export function groupsSelect(
  query: AlertGroupQuery,
): { sql: string; params: Record<string, string | number> } {
  const params = sqliteParams();
  return { sql: groupSelect(query, params), params: params.values };
}

/** The SELECT of the acked fingerprints' windows, with its parameters. */
export function acksQuery(
  limit: number,
): { sql: string; params: Record<string, string | number> } {
  const params = sqliteParams();
  return { sql: acksSelect(limit, params), params: params.values };
}
