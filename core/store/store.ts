/**
 * The alert store: records every alert and is the durable queue, idempotency table and action ledger.
 * `sqlite/sqlite.ts` implements it on `node:sqlite` (one instance, embedded); `postgres/postgres.ts`
 * on PostgreSQL, shared by several instances. `tests/_store_contract.ts` is the contract as tests,
 * run against both.
 *
 * @module
 */

/** Where an alert is in its life. */
export type AlertStatus =
  | "queued" // accepted, not yet processed
  | "processing" // a worker holds its lease
  | "retry" // delivery failed, will be retried at `next_attempt_at`
  | "delivered" // email handed to SMTP or written to the outbox
  | "not_sent" // deliberately not sent (no condition matched and send_mail_no_condition_match is false)
  | "failed"; // delivery failed `max_attempts` times (never dropped: still here, visible)

/** Result of one enrichment, as recorded and rendered. */
export interface EnrichmentResult {
  name: string; // e_name
  func: string; // e_func
  status: "ok" | "error" | "timeout" | "skipped";
  ms: number;
  data?: unknown;
  error?: string;
  cached?: boolean;
}

/** Result of one action (send action or a reply-button step). */
export interface ActionResult {
  name: string;
  status: "ok" | "error" | "skipped" | "timeout";
  return_name?: string;
  value?: unknown;
  error?: string;
  ms?: number;
}

/** The rendered message, kept so delivery retries and forwards never re-run enrichments. */
export interface StoredMessage {
  from: string;
  to: string[];
  cc: string[];
  subject: string;
  html: string;
  text: string;
  message_id: string; // "<id@host>"
  headers?: Record<string, string>;
}

/** One alert as recorded. */
export interface AlertRecord {
  id: string;
  detector: string;
  received_at: string; // ISO 8601
  updated_at: string;
  status: AlertStatus;
  alert: Record<string, unknown>;
  idempotency_key?: string;
  subject?: string;
  to?: string[];
  cc?: string[];
  condition?: string | null; // the CEL block that matched, null when none matched
  enrichments?: EnrichmentResult[];
  actions?: ActionResult[];
  message?: StoredMessage;
  message_id?: string;
  delivery?: {
    status: "sent" | "outbox" | "failed" | "pending" | "skipped";
    path?: string;
    error?: string;
    response?: string;
  };
  attempts: number;
  next_attempt_at?: string;
  last_error?: string;
  jira_keys?: string[];
}

/** Fields a pipeline step may update; an optional field given as `undefined` is cleared. */
export type AlertPatch = {
  [
    K in keyof Omit<
      AlertRecord,
      "id" | "detector" | "received_at" | "alert" | "idempotency_key"
    >
  ]?:
    | AlertRecord[K]
    | undefined;
};

/** A new alert to insert. */
export interface NewAlert {
  id: string;
  detector: string;
  alert: Record<string, unknown>;
  received_at?: string;
  status?: AlertStatus; // default "queued"
  idempotency_key?: string;
}

/** Outcome of a one-click action execution, recorded once per token nonce. */
export interface ActionRun {
  nonce: string; // the token's nonce: primary key, consumed atomically (also the idempotency key)
  alert_id: string;
  button: string; // button label
  actor: string;
  actor_source: "trusted_header" | "claimed" | "basic_auth";
  client_ip?: string;
  user_agent?: string;
  started_at: string;
  finished_at?: string;
  status: "running" | "ok" | "error";
  steps: ActionResult[];
}

/** Filter for listing alerts. */
export interface AlertQuery {
  detector?: string;
  status?: AlertStatus;
  limit?: number; // default 50
  before?: string; // received_at cursor
}

/** What one retention batch cleared: alert bodies, rendered emails, and the bytes of data they held. */
export interface PurgeCounts {
  alerts: number;
  emails: number;
  bytes: number;
}

/** The store interface every backend implements. All methods are safe to call concurrently. */
export interface Store {
  /** Inserts alerts atomically (all or none), durable when the promise resolves. */
  insertAlerts(alerts: NewAlert[]): Promise<void>;
  /**
   * For idempotent ingest: inserts the alerts whose idempotency key is new, atomically, and returns for
   * each input either the new id or the id already recorded under that key.
   */
  insertAlertsIdempotent(
    alerts: NewAlert[],
  ): Promise<{ id: string; duplicate: boolean }[]>;
  getAlert(id: string): Promise<AlertRecord | undefined>;
  /**
   * Applies `patch`. Resolves at commit (a status change is bookkeeping), or once it is on disk with
   * `durable: true` (always for `jira_keys`).
   */
  updateAlert(
    id: string,
    patch: AlertPatch,
    options?: { durable?: boolean },
  ): Promise<void>;
  listAlerts(query?: AlertQuery): Promise<AlertRecord[]>;
  /** Number of alerts in queued, processing or retry state. */
  backlog(): Promise<number>;
  /**
   * Claims the oldest due alert (queued, or retry with next_attempt_at <= now) for a worker: sets it to
   * "processing" with a lease until `now + leaseMs`, and returns it; undefined when none is due.
   */
  claimNext(
    options: { now?: Date; leaseMs: number },
  ): Promise<AlertRecord | undefined>;
  /**
   * Claims up to `limit` due alerts at once, oldest first, exactly as `limit` calls of `claimNext` would
   * (one statement instead of `limit`); an empty array when none is due.
   */
  claimBatch(
    options: { now?: Date; leaseMs: number; limit: number },
  ): Promise<AlertRecord[]>;
  /** Crash recovery: alerts left in "processing" (expired lease, or all when `all`) go back to "queued". */
  requeueStale(options?: { now?: Date; all?: boolean }): Promise<number>;
  /**
   * Consumes an action nonce atomically. Returns `{ run, created: true }` when this call consumed it, or
   * the existing run with `created: false` when it was consumed before (replay, double click).
   */
  consumeNonce(run: ActionRun): Promise<{ run: ActionRun; created: boolean }>;
  /** Updates a consumed run (steps, status, finished_at). */
  finishActionRun(
    nonce: string,
    patch: Partial<Pick<ActionRun, "finished_at" | "status" | "steps">>,
  ): Promise<void>;
  /** Action runs of one alert, oldest first (the audit trail). */
  listActionRuns(alertId: string): Promise<ActionRun[]>;
  /**
   * Retention, one batch: clears the body (alert JSON, enrichment results, email) of finished alerts
   * received before `alertsBefore` and the rendered email of those before `emailsBefore`, at most
   * `limit` of each, oldest first. Rows and action runs stay (the audit trail).
   */
  purge?(
    options: { alertsBefore: Date; emailsBefore: Date; limit: number },
  ): Promise<PurgeCounts>;
  /**
   * True when several instances share the store (PostgreSQL): leases are short and renewed by their
   * owner, so a start-up requeues only lapsed leases, never another instance's work in progress.
   */
  readonly shared?: boolean;
  /** Calls `listener` when any instance queued alerts (shared stores); returns the unsubscribe. */
  onQueued?(listener: (count: number) => void): () => void;
  /** Why the store is not usable right now (e.g. the database is unreachable), for `/healthz`. */
  readonly lastError?: string | undefined;
  /** True when the store can be written (health check). */
  ping(): Promise<boolean>;
  /** Commits so far: `full` waited for an fsync (durable writes), `normal` did not (bookkeeping). */
  readonly commits?: { full: number; normal: number };
  /** Checkpoints of the WAL into the database file made by the store itself (SQLite store). */
  readonly checkpoints?: number;
  /** Checkpoints whose copy failed and were retried (SQLite store). */
  readonly checkpointFailures?: number;
  /**
   * Commits (and syncs) what was accepted and closes. `exiting`: the process ends right after, so the
   * SQLite store leaves its WAL for the next process instead of checkpointing it into the database
   * file and deleting it (one `ingest` per alert: four fsyncs and a file create/delete fewer each).
   */
  close(options?: { exiting?: boolean }): Promise<void>;
}
