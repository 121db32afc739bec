/**
 * The alert statements of the PostgreSQL store: insert (idempotent or not), `updateAlert`'s UPDATE,
 * `listAlerts`'s SELECT, `listAlertGroups`'s grouped SELECT and `listAcks` (their SQL and the
 * filter are `../alert_query.ts` and `../alert_groups.ts`, shared with SQLite). Each runs on the
 * connection or transaction it is given.
 *
 * @module
 */
import type { Sql, TransactionSql } from "postgres";
import { stringifyJson } from "../../json.ts";
import {
  checkPatch,
  PATCH_FIELDS,
  patchValue,
  toAlert,
  toIso,
  toWindow,
} from "../records.ts";
import {
  acksSelect,
  type AlertGroup,
  type AlertGroupQuery,
  alertsSelect,
  postgresParams,
} from "../alert_query.ts";
import { groupSelect, toGroup } from "../alert_groups.ts";
import type {
  AlertPatch,
  AlertQuery,
  AlertRecord,
  NewAlert,
  StormWindow,
} from "../store.ts";

type Db = Sql | TransactionSql;
type Param = string | number | null;

/**
 * Inserts `alert` stamped `now`; with `idempotent`, returns the id already stored under its key
 * instead. One statement (prepared): outside a transaction it is one round trip, committed on its own
 * (the ingest of one alert per request).
 */
export async function insertAlert(
  db: Db,
  alert: NewAlert,
  options: { now: string; idempotent: boolean },
): Promise<{ id: string; duplicate: boolean }> {
  const params: Param[] = [
    alert.id,
    alert.detector,
    alert.received_at === undefined
      ? options.now
      : toIso(alert.received_at, "received_at"),
    options.now,
    alert.status ?? "queued",
    alert.alert_json ?? stringifyJson(alert.alert),
    alert.idempotency_key ?? null,
  ];
  // Unique across instances: the constraint decides, and the loser reads the winner's id.
  const conflict = options.idempotent && alert.idempotency_key !== undefined
    ? " ON CONFLICT (detector, idempotency_key) DO NOTHING"
    : "";
  const insert =
    `INSERT INTO alerts (id, detector, received_at, updated_at, status, alert_json, idempotency_key)
    VALUES ($1, $2, $3, $4, $5, $6, $7)${conflict} RETURNING id`;
  const inserted = await db.unsafe(insert, params, { prepare: true });
  if (inserted.length === 1) return { id: alert.id, duplicate: false };
  const [found] = await db.unsafe(
    "SELECT id FROM alerts WHERE detector = $1 AND idempotency_key = $2",
    [alert.detector, alert.idempotency_key ?? null],
  );
  if (!found) {
    throw new Error(
      `Cannot insert alert "${alert.id}": its idempotency key conflicted but no alert holds it`,
    );
  }
  return { id: String(found.id), duplicate: true };
}

/** Applies `patch` to alert `id` at `now`; throws when there is no such alert. */
export async function updateAlert(
  db: Db,
  id: string,
  patch: AlertPatch,
  options: { now: string },
): Promise<void> {
  checkPatch(id, patch);
  const given = patch as Record<string, unknown>;
  const params: Param[] = [id, options.now];
  const param = (value: Param) => `$${params.push(value)}`;
  const sets = ["updated_at = $2"];
  let recipients = "";
  for (const field of PATCH_FIELDS) {
    if (!(field in given) || field === "updated_at") continue;
    const value = given[field];
    if (field === "to" || field === "cc") {
      const base = recipients || "COALESCE(recipients, '{}')::jsonb";
      recipients = value === undefined
        ? `(${base} - '${field}')`
        : `(${base} || jsonb_build_object('${field}', ${
          param(JSON.stringify(value))
        }::text::jsonb))`;
      continue;
    }
    if (
      value === undefined && (field === "status" || field === "attempts")
    ) continue; // required: cannot clear
    sets.push(`${field} = ${param(patchValue(field, value))}`);
    if (field === "status" && value !== "processing") {
      sets.push("lease_until = NULL, lease_owner = NULL, claims = 0");
    }
  }
  if (recipients) sets.push(`recipients = NULLIF(${recipients}::text, '{}')`);
  const result = await db.unsafe(
    `UPDATE alerts SET ${sets.join(", ")} WHERE id = $1`,
    params,
  );
  if (result.count === 0) {
    throw new Error(`Cannot update alert "${id}": no such alert`);
  }
}

/** The alerts `query` asks for, newest first. */
export async function listAlerts(
  db: Db,
  query: AlertQuery,
): Promise<AlertRecord[]> {
  const params = postgresParams();
  const rows = await db.unsafe(alertsSelect(query, params), params.values);
  return rows.map(toAlert);
}

/** One page of `/alerts` groups (`Store.listAlertGroups`), newest last seen first. */
export async function listAlertGroups(
  db: Db,
  query: AlertGroupQuery,
): Promise<AlertGroup[]> {
  const params = postgresParams();
  const sql = groupSelect(query, params);
  return (await db.unsafe(sql, params.values)).map(toGroup);
}

/** The acked fingerprints' windows (`Store.listAcks`), most recently acked first. */
export async function listAcks(db: Db, limit: number): Promise<StormWindow[]> {
  const params = postgresParams();
  const sql = acksSelect(limit, params);
  return (await db.unsafe(sql, params.values)).map(toWindow);
}

/** One alert by id. */
export async function selectAlert(
  db: Db,
  id: string,
): Promise<AlertRecord | undefined> {
  const [row] = await db.unsafe("SELECT * FROM alerts WHERE id = $1", [id]);
  return row ? toAlert(row) : undefined;
}

/** Alerts still to process: queued, processing or waiting for a retry. */
export async function countBacklog(db: Db): Promise<number> {
  const [row] = await db.unsafe(
    "SELECT count(*) AS n FROM alerts WHERE status IN ('queued', 'processing', 'retry')",
  );
  return Number(row?.n ?? 0);
}
