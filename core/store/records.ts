/**
 * The row shape both stores share: the alert fields `updateAlert` may patch, and the mapping from a
 * row of `alerts` or `action_runs` (columns of the same names in SQLite and PostgreSQL, JSON held as
 * text) to a record. Timestamps are `Date#toISOString()` strings, which sort as text.
 *
 * @module
 */
import type {
  ActionRun,
  AlertPatch,
  AlertRecord,
  AlertStatus,
} from "./store.ts";

/** Fields `updateAlert` accepts, in the fixed order that keeps its statement cache small. */
export const PATCH_FIELDS: readonly string[] = [
  "status",
  "updated_at",
  "attempts",
  "subject",
  "to",
  "cc",
  "condition",
  "enrichments",
  "actions",
  "message",
  "message_id",
  "delivery",
  "next_attempt_at",
  "last_error",
  "jira_keys",
] satisfies (keyof AlertPatch)[];
/** Patchable alert fields stored as JSON text in a column of the same name. */
export const JSON_FIELDS: Set<string> = new Set([
  "enrichments",
  "actions",
  "message",
  "delivery",
  "jira_keys",
  "condition",
]);

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

type Row = Record<string, unknown>;

/** The record an `alerts` row holds. */
export function toAlert(row: Row): AlertRecord {
  const record: AlertRecord = {
    id: row.id as string,
    detector: row.detector as string,
    received_at: row.received_at as string,
    updated_at: row.updated_at as string,
    status: row.status as AlertStatus,
    alert: JSON.parse(row.alert_json as string),
    attempts: Number(row.attempts),
  };
  if (row.idempotency_key !== null) {
    record.idempotency_key = row.idempotency_key as string;
  }
  if (row.subject !== null) record.subject = row.subject as string;
  if (row.recipients !== null) {
    const { to, cc } = JSON.parse(row.recipients as string) as {
      to?: string[];
      cc?: string[];
    };
    if (to !== undefined) record.to = to;
    if (cc !== undefined) record.cc = cc;
  }
  if (row.condition !== null) {
    record.condition = JSON.parse(row.condition as string);
  }
  if (row.enrichments !== null) {
    record.enrichments = JSON.parse(row.enrichments as string);
  }
  if (row.actions !== null) record.actions = JSON.parse(row.actions as string);
  if (row.message !== null) record.message = JSON.parse(row.message as string);
  if (row.message_id !== null) record.message_id = row.message_id as string;
  if (row.delivery !== null) {
    record.delivery = JSON.parse(row.delivery as string);
  }
  if (row.next_attempt_at !== null) {
    record.next_attempt_at = row.next_attempt_at as string;
  }
  if (row.last_error !== null) record.last_error = row.last_error as string;
  if (row.jira_keys !== null) {
    record.jira_keys = JSON.parse(row.jira_keys as string);
  }
  return record;
}

/** The action run an `action_runs` row holds. */
export function toActionRun(row: Row): ActionRun {
  const run: ActionRun = {
    nonce: row.nonce as string,
    alert_id: row.alert_id as string,
    button: row.button as string,
    actor: row.actor as string,
    actor_source: row.actor_source as ActionRun["actor_source"],
    started_at: row.started_at as string,
    status: row.status as ActionRun["status"],
    steps: JSON.parse(row.steps as string),
  };
  if (row.client_ip !== null) run.client_ip = row.client_ip as string;
  if (row.user_agent !== null) run.user_agent = row.user_agent as string;
  if (row.finished_at !== null) run.finished_at = row.finished_at as string;
  return run;
}
