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
  alertsSelect,
  sqliteParams,
} from "../alert_query.ts";
import { groupSelect } from "../alert_groups.ts";
import type { AlertQuery } from "../store.ts";

/** The SELECT that lists the alerts `query` asks for, with its parameters. */
export function alertSelect(
  query: AlertQuery,
): { sql: string; params: Record<string, string | number> } {
  const params = sqliteParams();
  return { sql: alertsSelect(query, params), params: params.values };
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
