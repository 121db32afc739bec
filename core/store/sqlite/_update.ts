/**
 * The `updateAlert` step of the SQLite store: `alertUpdate` turns an {@link AlertPatch} into one UPDATE
 * statement and its parameters (pure: it touches no database); `updateAlertRow` runs it inside the
 * caller's write.
 *
 * @module
 */
import type { StatementSync } from "node:sqlite";
import { stringifyJson } from "../../json.ts";
import { checkPatch, PATCH_FIELDS, patchValue } from "../records.ts";
import type { AlertPatch } from "../store.ts";

/**
 * The UPDATE that applies `patch` to alert `id` at time `now` (an ISO string), with its parameters.
 * Numbered parameters (`?1`, `?2`, …), bound by position: in node:sqlite named ones cost ~5 µs more
 * per outcome write (measured on the UPDATE that records a delivered alert's email, issue 17).
 */
export function alertUpdate(
  id: string,
  patch: AlertPatch,
  options: { now: string },
): { sql: string; params: (string | number | null)[] } {
  checkPatch(id, patch);
  const given = patch as Record<string, unknown>;
  const params: (string | number | null)[] = [options.now];
  /** The placeholder of a new parameter `value`. */
  const param = (value: string | number | null) => `?${params.push(value)}`;
  const sets = ["updated_at = ?1"];
  let recipients = "";
  for (const field of PATCH_FIELDS) {
    if (!(field in given) || field === "updated_at") continue;
    const value = given[field];
    if (field === "to" || field === "cc") {
      recipients = value === undefined
        ? `json_remove(${
          recipients || "COALESCE(recipients, '{}')"
        }, '$.${field}')`
        : `json_set(${
          recipients || "COALESCE(recipients, '{}')"
        }, '$.${field}', json(${param(stringifyJson(value))}))`;
      continue;
    }
    if (
      value === undefined && (field === "status" || field === "attempts")
    ) continue; // required: cannot clear
    sets.push(`${field} = ${param(patchValue(field, value))}`);
    if (field === "status" && value !== "processing") {
      sets.push("lease_until = NULL, claims = 0");
    }
  }
  if (recipients) sets.push(`recipients = NULLIF(${recipients}, '{}')`);
  return {
    sql: `UPDATE alerts SET ${sets.join(", ")} WHERE id = ${param(id)}`,
    params,
  };
}

/** Applies `patch` to alert `id` through the store's statement cache `sql`; throws for an unknown id. */
export function updateAlertRow(
  sql: (sql: string) => StatementSync,
  id: string,
  patch: AlertPatch,
  options: { now: string },
): void {
  const update = alertUpdate(id, patch, options);
  const { changes } = sql(update.sql).run(...update.params);
  if (Number(changes) === 0) {
    throw new Error(`Cannot update alert "${id}": no such alert`);
  }
}
