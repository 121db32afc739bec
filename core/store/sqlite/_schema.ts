/**
 * The schema of the SQLite store: its migrations. The alert fields `updateAlert` may patch and the
 * mapping from rows to records are shared with the PostgreSQL store (`../records.ts`, re-exported
 * here). Timestamps are `Date#toISOString()` strings, which sort as text.
 *
 * @module
 */
export {
  JSON_FIELDS,
  PATCH_FIELDS,
  toActionRun,
  toAlert,
  toIso,
} from "../records.ts";

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
];

/** The schema version this code creates and understands. */
export const SQLITE_SCHEMA_VERSION: number = MIGRATIONS.length;
