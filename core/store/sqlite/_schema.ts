/**
 * The schema of the SQLite store: its migrations, the alert fields `updateAlert` may patch, and the
 * mapping from rows to records. Timestamps are `Date#toISOString()` strings, which sort as text.
 *
 * @module
 */
import { parseJson } from "../../json.ts";
import type {
  ActionRun,
  AlertPatch,
  AlertRecord,
  AlertStatus,
  Silence,
  StormWindow,
  SuppressedBy,
} from "../store.ts";

/** A JSON column as stored (big integers kept exactly: core/json.ts). */
// deno-lint-ignore no-explicit-any
function fromJson(text: unknown): any {
  return parseJson(text as string);
}

/** Schema migrations, in order: version N is `MIGRATIONS[N - 1]`. Append, never edit. */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    detector TEXT NOT NULL,
    received_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    status TEXT NOT NULL,
    alert_json TEXT NOT NULL,
    idempotency_key TEXT,
    subject TEXT,
    recipients TEXT, -- JSON {"to": [...], "cc": [...]}
    condition TEXT, -- JSON: a string, or null when no condition matched; SQL NULL when unknown
    enrichments TEXT,
    actions TEXT,
    message TEXT,
    message_id TEXT,
    delivery TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    lease_until TEXT,
    last_error TEXT,
    jira_keys TEXT,
    UNIQUE (detector, idempotency_key)
  ) STRICT;
  CREATE INDEX alerts_status_next_attempt ON alerts (status, next_attempt_at);
  CREATE INDEX alerts_status_received ON alerts (status, received_at);
  CREATE INDEX alerts_detector_received ON alerts (detector, received_at);
  CREATE INDEX alerts_received ON alerts (received_at);
  CREATE TABLE action_runs (
    nonce TEXT PRIMARY KEY,
    alert_id TEXT NOT NULL REFERENCES alerts (id),
    button TEXT NOT NULL,
    actor TEXT NOT NULL,
    actor_source TEXT NOT NULL,
    client_ip TEXT,
    user_agent TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    steps TEXT NOT NULL
  ) STRICT;
  CREATE INDEX action_runs_alert ON action_runs (alert_id, started_at);`,
  // 2: claims find due retries through (status, received_at) (retries are few), so this index only
  // cost two more B-tree writes on every status change.
  `DROP INDEX IF EXISTS alerts_status_next_attempt;`,
  // 3: storm control (issue 11): what each suppressed alert was suppressed by and which alert's email
  // covers it, each fingerprint's window, timers claimed like queue items, and silences.
  `ALTER TABLE alerts ADD COLUMN fingerprint TEXT;
  ALTER TABLE alerts ADD COLUMN suppressed_by TEXT;
  ALTER TABLE alerts ADD COLUMN notified_id TEXT;
  ALTER TABLE alerts ADD COLUMN silence_id TEXT;
  CREATE INDEX alerts_fingerprint ON alerts (fingerprint, received_at) WHERE fingerprint IS NOT NULL;
  CREATE INDEX alerts_notified ON alerts (notified_id) WHERE notified_id IS NOT NULL;
  CREATE INDEX alerts_silence ON alerts (silence_id) WHERE silence_id IS NOT NULL;
  CREATE TABLE storm_windows (
    fingerprint TEXT PRIMARY KEY,
    detector TEXT NOT NULL,
    definition TEXT NOT NULL,
    paths TEXT NOT NULL, -- JSON array
    fp_values TEXT NOT NULL, -- JSON array
    notified_id TEXT,
    notified_at TEXT,
    window_ms INTEGER NOT NULL,
    window_end TEXT NOT NULL,
    since_count INTEGER NOT NULL,
    total INTEGER NOT NULL,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    acked_by TEXT,
    acked_at TEXT
  ) STRICT;
  CREATE INDEX storm_windows_detector ON storm_windows (detector, last_seen_at);
  CREATE TABLE storm_timers (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    due_at TEXT NOT NULL,
    ref TEXT NOT NULL, -- JSON object
    lease_until TEXT,
    done_at TEXT
  ) STRICT;
  CREATE INDEX storm_timers_due ON storm_timers (due_at) WHERE done_at IS NULL;
  CREATE TABLE silences (
    id TEXT PRIMARY KEY,
    detector TEXT NOT NULL, -- a detector name or '*'
    match TEXT, -- CEL over alert
    fingerprint TEXT,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    comment TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expired_at TEXT,
    suppressed INTEGER NOT NULL DEFAULT 0
  ) STRICT;
  CREATE INDEX silences_ends ON silences (ends_at);`,
  // 4: the channel outbox (Slack, Teams, webhooks, PagerDuty, plugins): one row per (alert, channel,
  // event), each with its own attempts and backoff.
  `CREATE TABLE channel_deliveries (
    alert_id TEXT NOT NULL REFERENCES alerts (id),
    channel TEXT NOT NULL,
    event TEXT NOT NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    lease_until TEXT,
    last_error TEXT,
    delivered_at TEXT,
    payload TEXT NOT NULL,
    result TEXT,
    PRIMARY KEY (alert_id, channel, event)
  ) STRICT;
  CREATE INDEX channel_deliveries_due ON channel_deliveries (status, next_attempt_at);`,
  // 5: issue 12: the alert's severity level, and the thread key that threads a resolved alert onto
  // the earlier firing one (found by detector and key, oldest first).
  `ALTER TABLE alerts ADD COLUMN severity TEXT;
  ALTER TABLE alerts ADD COLUMN thread_key TEXT;
  CREATE INDEX alerts_thread ON alerts (detector, thread_key, received_at) WHERE thread_key IS NOT NULL;`,
  // 6: storm control (issue 11): the storm breaker's per-detector state, and groups of fingerprints
  // (an alert waiting for its group's email carries the group's key).
  `CREATE TABLE storm_breaker (
    detector TEXT PRIMARY KEY,
    mode TEXT NOT NULL,
    bucket_start TEXT NOT NULL,
    bucket_count INTEGER NOT NULL,
    prev_count INTEGER NOT NULL,
    on_since TEXT,
    period_start TEXT,
    period_count INTEGER NOT NULL
  ) STRICT;
  ALTER TABLE alerts ADD COLUMN group_key TEXT;
  CREATE INDEX alerts_group ON alerts (group_key, status) WHERE group_key IS NOT NULL;
  CREATE TABLE storm_groups (
    group_key TEXT PRIMARY KEY,
    detector TEXT NOT NULL,
    paths TEXT NOT NULL, -- JSON array
    fp_values TEXT NOT NULL, -- JSON array
    last_sent_at TEXT,
    flush_at TEXT -- the pending batch's email, when one waits
  ) STRICT;`,
];

/** The schema version this code creates and understands. */
export const SQLITE_SCHEMA_VERSION: number = MIGRATIONS.length;

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
  "severity",
  "thread_key",
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
    alert: fromJson(row.alert_json),
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
    record.condition = fromJson(row.condition);
  }
  if (row.enrichments !== null) {
    record.enrichments = fromJson(row.enrichments);
  }
  if (row.actions !== null) record.actions = fromJson(row.actions);
  if (row.message !== null) record.message = fromJson(row.message);
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
  if (row.fingerprint != null) record.fingerprint = row.fingerprint as string;
  if (row.suppressed_by != null) {
    record.suppressed_by = row.suppressed_by as SuppressedBy;
  }
  if (row.notified_id != null) record.notified_id = row.notified_id as string;
  if (row.silence_id != null) record.silence_id = row.silence_id as string;
  if (row.severity != null) record.severity = row.severity as string;
  if (row.thread_key != null) record.thread_key = row.thread_key as string;
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
    steps: fromJson(row.steps),
  };
  if (row.client_ip !== null) run.client_ip = row.client_ip as string;
  if (row.user_agent !== null) run.user_agent = row.user_agent as string;
  if (row.finished_at !== null) run.finished_at = row.finished_at as string;
  return run;
}

/** The window a `storm_windows` row holds. */
export function toWindow(row: Row): StormWindow {
  const window: StormWindow = {
    fingerprint: row.fingerprint as string,
    detector: row.detector as string,
    definition: row.definition as string,
    paths: JSON.parse(row.paths as string),
    values: JSON.parse(row.fp_values as string),
    window_ms: Number(row.window_ms),
    window_end: row.window_end as string,
    since_count: Number(row.since_count),
    total: Number(row.total),
    first_seen_at: row.first_seen_at as string,
    last_seen_at: row.last_seen_at as string,
  };
  if (row.notified_id !== null) window.notified_id = row.notified_id as string;
  if (row.notified_at !== null) window.notified_at = row.notified_at as string;
  if (row.acked_by !== null) window.acked_by = row.acked_by as string;
  if (row.acked_at !== null) window.acked_at = row.acked_at as string;
  return window;
}

/** The silence a `silences` row holds. */
export function toSilence(row: Row): Silence {
  const silence: Silence = {
    id: row.id as string,
    detector: row.detector as string,
    starts_at: row.starts_at as string,
    ends_at: row.ends_at as string,
    created_by: row.created_by as string,
    comment: row.comment as string,
    created_at: row.created_at as string,
    suppressed: Number(row.suppressed),
  };
  if (row.match !== null) silence.match = row.match as string;
  if (row.fingerprint !== null) silence.fingerprint = row.fingerprint as string;
  if (row.expired_at !== null) silence.expired_at = row.expired_at as string;
  return silence;
}
