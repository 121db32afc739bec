/**
 * The schema of the PostgreSQL store: its migrations, in order (version N is `MIGRATIONS[N - 1]`).
 * Append, never edit. Columns mirror the SQLite store's (`../records.ts` maps rows of both): JSON is
 * kept as `text`, so an alert's JSON reads back exactly as it was written (no `jsonb` normalisation
 * of numbers or key order), and times are `Date#toISOString()` strings, which sort as text. `seq`
 * orders alerts received in the same millisecond, as SQLite's rowid does.
 *
 * @module
 */

/** Schema migrations, in order. Append, never edit. */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE alerts (
    seq bigserial NOT NULL UNIQUE,
    id text PRIMARY KEY,
    detector text NOT NULL,
    received_at text NOT NULL,
    updated_at text NOT NULL,
    status text NOT NULL,
    alert_json text NOT NULL,
    idempotency_key text,
    subject text,
    recipients text,
    condition text,
    enrichments text,
    actions text,
    message text,
    message_id text,
    delivery text,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at text,
    lease_until text,
    lease_owner text,
    last_error text,
    jira_keys text,
    fingerprint text,
    suppressed_by text,
    notified_id text,
    silence_id text,
    severity text,
    thread_key text,
    UNIQUE (detector, idempotency_key)
  );
  CREATE INDEX alerts_thread ON alerts (detector, thread_key, received_at) WHERE thread_key IS NOT NULL;
  CREATE INDEX alerts_fingerprint ON alerts (fingerprint, received_at) WHERE fingerprint IS NOT NULL;
  CREATE INDEX alerts_notified ON alerts (notified_id) WHERE notified_id IS NOT NULL;
  CREATE INDEX alerts_silence ON alerts (silence_id) WHERE silence_id IS NOT NULL;
  CREATE INDEX alerts_due ON alerts (received_at, seq) WHERE status IN ('queued', 'retry');
  CREATE INDEX alerts_processing ON alerts (lease_owner) WHERE status = 'processing';
  CREATE INDEX alerts_status_received ON alerts (status, received_at);
  CREATE INDEX alerts_detector_received ON alerts (detector, received_at);
  CREATE INDEX alerts_received ON alerts (received_at, seq);
  CREATE TABLE action_runs (
    seq bigserial NOT NULL UNIQUE,
    nonce text PRIMARY KEY,
    alert_id text NOT NULL REFERENCES alerts (id),
    button text NOT NULL,
    actor text NOT NULL,
    actor_source text NOT NULL,
    client_ip text,
    user_agent text,
    started_at text NOT NULL,
    finished_at text,
    status text NOT NULL,
    steps text NOT NULL,
    owner text
  );
  CREATE INDEX action_runs_alert ON action_runs (alert_id, started_at, seq);
  CREATE TABLE storm_windows (
    fingerprint text PRIMARY KEY,
    detector text NOT NULL,
    definition text NOT NULL,
    paths text NOT NULL,
    fp_values text NOT NULL,
    notified_id text,
    notified_at text,
    window_ms bigint NOT NULL,
    window_end text NOT NULL,
    since_count integer NOT NULL,
    total bigint NOT NULL,
    first_seen_at text NOT NULL,
    last_seen_at text NOT NULL,
    acked_by text,
    acked_at text
  );
  CREATE INDEX storm_windows_detector ON storm_windows (detector, last_seen_at);
  CREATE TABLE storm_timers (
    id text PRIMARY KEY,
    kind text NOT NULL,
    due_at text NOT NULL,
    ref text NOT NULL,
    lease_until text,
    done_at text
  );
  CREATE INDEX storm_timers_due ON storm_timers (due_at) WHERE done_at IS NULL;
  CREATE TABLE silences (
    id text PRIMARY KEY,
    detector text NOT NULL,
    match text,
    fingerprint text,
    starts_at text NOT NULL,
    ends_at text NOT NULL,
    created_by text NOT NULL,
    comment text NOT NULL,
    created_at text NOT NULL,
    expired_at text,
    suppressed integer NOT NULL DEFAULT 0
  );
  CREATE INDEX silences_ends ON silences (ends_at);
  CREATE TABLE channel_deliveries (
    seq bigserial NOT NULL UNIQUE,
    alert_id text NOT NULL REFERENCES alerts (id),
    channel text NOT NULL,
    event text NOT NULL,
    type text NOT NULL,
    status text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    created_at text NOT NULL,
    updated_at text NOT NULL,
    next_attempt_at text NOT NULL,
    lease_until text,
    last_error text,
    delivered_at text,
    payload text NOT NULL,
    result text,
    PRIMARY KEY (alert_id, channel, event)
  );
  CREATE INDEX channel_deliveries_due ON channel_deliveries (status, next_attempt_at);`,
  // 2: storm control (issue 11): the storm breaker's per-detector state, and groups of fingerprints.
  `CREATE TABLE storm_breaker (
    detector text PRIMARY KEY,
    mode text NOT NULL,
    bucket_start text NOT NULL,
    bucket_count integer NOT NULL,
    prev_count integer NOT NULL,
    on_since text,
    period_start text,
    period_count integer NOT NULL
  );
  ALTER TABLE alerts ADD COLUMN group_key text;
  CREATE INDEX alerts_group ON alerts (group_key, status) WHERE group_key IS NOT NULL;
  CREATE TABLE storm_groups (
    group_key text PRIMARY KEY,
    detector text NOT NULL,
    paths text NOT NULL,
    fp_values text NOT NULL,
    last_sent_at text,
    flush_at text
  );`,
  // 3: issue 13: each instance's heartbeat, so a button run left "running" by an instance that went
  // silent reads "unknown" (action_runs.owner names the instance).
  `CREATE TABLE instances (
    owner text PRIMARY KEY,
    started_at text NOT NULL,
    seen_at text NOT NULL
  );`,
  // 4: issue 16: claims since the alert's processing last ended (see the SQLite store's migration 7).
  `ALTER TABLE alerts ADD COLUMN claims integer NOT NULL DEFAULT 0;`,
  // 5: storm control (issue 11): a fingerprint whose last email was its resolve (SQLite's migration 8).
  `ALTER TABLE storm_windows ADD COLUMN resolved_at text;`,
  // 6: issue 16: who re-queued an alert's failed deliveries, and when (see the SQLite store's migration 9).
  `CREATE TABLE redeliveries (
    id text PRIMARY KEY,
    alert_id text NOT NULL REFERENCES alerts (id),
    detector text NOT NULL,
    at text NOT NULL,
    actor text NOT NULL,
    source text NOT NULL,
    email integer NOT NULL,
    channels text NOT NULL,
    previous_attempts integer NOT NULL,
    previous_error text
  );
  CREATE INDEX redeliveries_alert ON redeliveries (alert_id, at);`,
];

/** The schema version this code creates and understands. */
export const POSTGRES_SCHEMA_VERSION: number = MIGRATIONS.length;

/** The advisory lock key migrations (and `store copy`) take: "blitz" in ASCII. */
export const MIGRATION_LOCK = 0x626c69747a;

/** The advisory lock key one retention batch takes, so one instance purges at a time. */
export const RETENTION_LOCK = 0x626c69747a + 1;
