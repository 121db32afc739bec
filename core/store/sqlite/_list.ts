/**
 * The `listAlerts` step of the SQLite store: turns an {@link AlertQuery} into one SELECT and its named
 * parameters, newest first. Pure: it touches no database.
 *
 * @module
 */
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
  const where: string[] = [];
  const params: Record<string, string | number> = { limit };
  if (query.detector !== undefined) {
    where.push("detector = :detector");
    params.detector = query.detector;
  }
  if (query.status !== undefined) {
    where.push("status = :status");
    params.status = query.status;
  }
  if (query.before !== undefined) {
    params.before = toIso(query.before, "before");
    if (query.before_id !== undefined) {
      where.push(
        "(received_at < :before OR (received_at = :before AND id < :before_id))",
      );
      params.before_id = query.before_id;
    } else {
      where.push("received_at < :before");
    }
  }
  if (query.text !== undefined && query.text !== "") {
    where.push("instr(alert_json, :text) > 0");
    params.text = query.text;
  }
  if (query.after !== undefined) {
    where.push("received_at >= :after");
    params.after = toIso(query.after, "after");
  }
  for (
    const field of [
      "fingerprint",
      "notified_id",
      "suppressed_by",
      "silence_id",
      "thread_key",
    ] as const
  ) {
    const value = query[field];
    if (value !== undefined) {
      where.push(`${field} = :${field}`);
      params[field] = value;
    }
  }
  const filter = where.length > 0 ? `WHERE ${where.join(" AND ")}` : "";
  const order = query.oldest_first ? "ASC" : "DESC";
  return {
    sql:
      `SELECT * FROM alerts ${filter} ORDER BY received_at ${order}, id ${order} LIMIT :limit`,
    params,
  };
}
