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
  toDelivery,
  toIso,
  toSilence,
  toTimer,
  toWindow,
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
  // 7: issue 16: claims since the alert's processing last ended, counted when it is claimed; an alert
  // found "processing" with 3 of them was interrupted 3 times in a row and is quarantined.
  `ALTER TABLE alerts ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;`,
  // 8: storm control (issue 11): a fingerprint whose last email was its resolve (the next firing is
  // mailed at once; a repeated resolve is suppressed).
  `ALTER TABLE storm_windows ADD COLUMN resolved_at TEXT;`,
  // 9: issue 16: who re-queued an alert's failed deliveries, and when (`deno task redeliver`, the
  // alert page's button); `channels` is a JSON array of {channel, event}.
  `CREATE TABLE redeliveries (
    id TEXT PRIMARY KEY,
    alert_id TEXT NOT NULL REFERENCES alerts (id),
    detector TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    source TEXT NOT NULL,
    email INTEGER NOT NULL,
    channels TEXT NOT NULL,
    previous_attempts INTEGER NOT NULL,
    previous_error TEXT
  ) STRICT;
  CREATE INDEX redeliveries_alert ON redeliveries (alert_id, at);`,
  // 10: issue 17: the idempotency key's uniqueness as a partial index. Most alerts carry no key, and
  // the inline UNIQUE (detector, idempotency_key) still wrote an index entry for each (one B-tree of
  // six on every insert; NULL keys were never unique). SQLite cannot drop an inline constraint, so the
  // table is rebuilt as its documented procedure does (foreign keys off meanwhile, see `migrate`):
  // rows and rowids copied, every index made again.
  `CREATE TABLE alerts_v10 (
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
    fingerprint TEXT,
    suppressed_by TEXT,
    notified_id TEXT,
    silence_id TEXT,
    severity TEXT,
    thread_key TEXT,
    group_key TEXT,
    claims INTEGER NOT NULL DEFAULT 0
  ) STRICT;
  INSERT INTO alerts_v10 (rowid,
      id, detector, received_at, updated_at, status, alert_json, idempotency_key,
      subject, recipients, condition, enrichments, actions, message, message_id,
      delivery, attempts, next_attempt_at, lease_until, last_error, jira_keys,
      fingerprint, suppressed_by, notified_id, silence_id, severity, thread_key,
      group_key, claims)
    SELECT rowid,
      id, detector, received_at, updated_at, status, alert_json, idempotency_key,
      subject, recipients, condition, enrichments, actions, message, message_id,
      delivery, attempts, next_attempt_at, lease_until, last_error, jira_keys,
      fingerprint, suppressed_by, notified_id, silence_id, severity, thread_key,
      group_key, claims
    FROM alerts;
  DROP TABLE alerts;
  ALTER TABLE alerts_v10 RENAME TO alerts;
  CREATE UNIQUE INDEX alerts_idempotency ON alerts (detector, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
  CREATE INDEX alerts_status_received ON alerts (status, received_at);
  CREATE INDEX alerts_detector_received ON alerts (detector, received_at);
  CREATE INDEX alerts_received ON alerts (received_at);
  CREATE INDEX alerts_fingerprint ON alerts (fingerprint, received_at) WHERE fingerprint IS NOT NULL;
  CREATE INDEX alerts_notified ON alerts (notified_id) WHERE notified_id IS NOT NULL;
  CREATE INDEX alerts_silence ON alerts (silence_id) WHERE silence_id IS NOT NULL;
  CREATE INDEX alerts_thread ON alerts (detector, thread_key, received_at) WHERE thread_key IS NOT NULL;
  CREATE INDEX alerts_group ON alerts (group_key, status) WHERE group_key IS NOT NULL;`,
];

/** The schema version this code creates and understands. */
export const SQLITE_SCHEMA_VERSION: number = MIGRATIONS.length;
