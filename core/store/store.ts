/**
 * The alert store: records every alert and is the durable queue, idempotency table and action ledger.
 * `sqlite/sqlite.ts` implements it on `node:sqlite` (one instance, embedded); `postgres/postgres.ts`
 * on PostgreSQL, shared by several instances. `tests/_store_contract.ts` is the contract as tests,
 * run against both.
 *
 * @module
 */
import { isDiskFull } from "../errors.ts";
import type {
  StormDecision,
  StormInput,
  StormWindow,
  SuppressedBy,
} from "./storm_window.ts";
import type { NewSilence, Silence } from "./storm_silence.ts";
import type { StormTimer } from "./storm_timers.ts";

export type {
  GroupInput,
  StormDecision,
  StormInput,
  StormPolicy,
  StormWindow,
  SuppressedBy,
} from "./storm_window.ts";
export type {
  BreakerOutcome,
  BreakerState,
  StormGroup,
} from "./storm_rules.ts";
export type { NewSilence, Silence } from "./storm_silence.ts";
export type { StormTimer } from "./storm_timers.ts";
import type {
  AlertGroup,
  AlertGroupQuery,
  AlertListQuery,
} from "./alert_query.ts";

export type {
  AlertFilter,
  AlertGroup,
  AlertGroupQuery,
  AlertListQuery,
  AlertSummary,
  GroupState,
  StateFilter,
} from "./alert_query.ts";
export { GROUP_STATES } from "./alert_query.ts";
export { isDiskFull } from "../errors.ts";
export { decideWindow, heldWindow } from "./storm_window.ts";
export { BREAKER_PERIOD_MS, breakerStep, groupStep } from "./storm_rules.ts";

/** Where an alert is in its life. */
export type AlertStatus =
  | "queued" // accepted, not yet processed
  | "processing" // a worker holds its lease
  | "retry" // delivery failed, will be retried at `next_attempt_at`
  | "delivered" // email handed to SMTP or written to the outbox
  | "not_sent" // deliberately not sent (no condition matched and send_mail_no_condition_match is false)
  | "suppressed" // storm control: stored and counted, not mailed (see `suppressed_by`)
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
  /** The result's size as JSON text when `data` was cut to what the email shows (too big to store). */
  truncated?: number;
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
  /** Threading onto an earlier alert of the same thread (a resolved alert onto its firing one). */
  in_reply_to?: string;
  references?: string[];
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
  /** Storm control: the fingerprint id of the alert (set when its detector has `storm`). */
  fingerprint?: string;
  /** Storm control: why it was not mailed (status "suppressed"). */
  suppressed_by?: SuppressedBy;
  /** Storm control: the alert whose email covers this one. */
  notified_id?: string;
  /** Storm control: the silence that suppressed it. */
  silence_id?: string;
  /** Storm control: the group (`storm.group`) whose email lists it. */
  group_key?: string;
  /** The detector's `severity` level (core/severity.ts): critical, high, medium or low. */
  severity?: string;
  /** Threads alerts of one detector (`thread_key` or `storm.fingerprint` values, hashed). */
  thread_key?: string;
}

/** Fields a pipeline step may update; an optional field given as `undefined` is cleared. */
export type AlertPatch = {
  [
    K in keyof Omit<
      AlertRecord,
      | "id"
      | "detector"
      | "received_at"
      | "alert"
      | "idempotency_key"
      | "fingerprint"
      | "suppressed_by"
      | "notified_id"
      | "silence_id"
      | "group_key"
    >
  ]?:
    | AlertRecord[K]
    | undefined;
};

/**
 * Options of `requeueStale`. Each claim counts (before the alert is processed), and the count is reset
 * when its processing ends (any status but "processing"): an alert found "processing" with
 * `quarantineAfter` claims or more was interrupted that many times in a row (a crash, a kill, an
 * out-of-memory abort) and is set to "failed" with the reason in `last_error` instead of being queued
 * again, so a poison pill cannot crash the service for ever.
 */
export interface RequeueOptions {
  now?: Date;
  /** Every processing alert (at start-up, when no other instance shares the store), not only lapsed leases. */
  all?: boolean;
  /** @default 3 */
  quarantineAfter?: number;
  /** Called once the write is committed, with the alerts it quarantined (only when there are any). */
  onQuarantined?: (alerts: QuarantinedAlert[]) => void;
}

/** An alert `requeueStale` set to "failed" instead of queueing it again. */
export interface QuarantinedAlert {
  id: string;
  detector: string;
  /** Claims in a row whose processing was interrupted. */
  attempts: number;
  /** Its `last_error` ({@link quarantineReason}). */
  reason: string;
}

/**
 * Retries `write` while it is refused for a full disk, waiting 250 ms doubling to 5 s in between;
 * any other error (the store closed at shutdown: the next start requeues the alert) ends it.
 */
export async function untilSpace<T>(write: () => Promise<T>): Promise<T> {
  for (let wait = 250;; wait = Math.min(wait * 2, 5_000)) {
    await new Promise((resolve) => setTimeout(resolve, wait));
    try {
      return await write();
    } catch (err) {
      if (!isDiskFull(err)) throw err;
    }
  }
}

/** The `last_error` of an alert quarantined after `n` interrupted attempts. */
export function quarantineReason(n: number): string {
  return `Quarantined: its processing was interrupted ${n} times in a row (the service crashed or was killed each time, e.g. a plugin ran out of memory); not retried`;
}

/** A new alert to insert. */
export interface NewAlert {
  id: string;
  detector: string;
  alert: Record<string, unknown>;
  /** `alert` as `stringifyJson` writes it, when the caller has that text already: stored as it is. */
  alert_json?: string;
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
  actor_source: "trusted_header" | "claimed" | "basic_auth" | "slack";
  client_ip?: string;
  user_agent?: string;
  started_at: string;
  finished_at?: string;
  /**
   * `unknown`: it was running when its instance died (a shared store sees the instance stop
   * answering); what its steps did is not known, and it is never run again.
   */
  status: "running" | "ok" | "error" | "unknown";
  steps: ActionResult[];
}

/** Where one channel delivery is: each (alert, channel, event) has its own outbox entry and retries. */
export type ChannelDeliveryStatus =
  | "pending" // due at `next_attempt_at` (first attempt, or a retry after a failure)
  | "sending" // claimed by a worker until `lease_until`
  | "delivered"
  | "failed"; // `max_attempts` failed attempts, or a permanent error (kept, visible)

/** Identifies one channel delivery. */
export interface ChannelDeliveryKey {
  alert_id: string;
  /** The channel's name in the global `channels`. */
  channel: string;
  /** What is sent: `alert`, or e.g. `digest:<id>`, `notice:<id>`, `update:<nonce>`. */
  event: string;
}

/** One channel delivery, as recorded. */
export interface ChannelDelivery extends ChannelDeliveryKey {
  /** The channel's type when it was queued (`slack`, `teams`, `webhook`, `pagerduty`, a plugin's). */
  type: string;
  status: ChannelDeliveryStatus;
  attempts: number;
  created_at: string;
  updated_at: string;
  next_attempt_at: string;
  lease_until?: string;
  last_error?: string;
  delivered_at?: string;
  /** What to send: the channel message (and for updates, what to change), as JSON. */
  payload: Record<string, unknown>;
  /** What the channel answered (Slack's `channel` and `ts`, PagerDuty's `dedup_key`, …). */
  result?: Record<string, unknown>;
}

/** A channel delivery to queue. */
export interface NewChannelDelivery extends ChannelDeliveryKey {
  type: string;
  payload: Record<string, unknown>;
  /** @default now */
  next_attempt_at?: string;
}

/** Fields an attempt's outcome updates; an optional field given as `undefined` is cleared. */
export type ChannelDeliveryPatch = {
  [
    K in keyof Pick<
      ChannelDelivery,
      | "status"
      | "attempts"
      | "next_attempt_at"
      | "last_error"
      | "delivered_at"
      | "result"
      | "lease_until"
    >
  ]?: ChannelDelivery[K] | undefined;
};

/**
 * One redelivery, as audited: an alert whose delivery had failed for good (its email, its channel
 * deliveries, or both) put back in the queue by a person (`deno task redeliver`, the alert page's
 * button). Each failed delivery is re-queued once: two redeliveries at the same moment re-queue it
 * for one of them only, and only that one is recorded.
 */
export interface Redelivery {
  id: string;
  alert_id: string;
  detector: string;
  /** When (ISO 8601), by whom and from where. */
  at: string;
  actor: string;
  source: "cli" | "ui";
  /** The email was re-queued: the alert was "failed"; it is due now with its attempts reset. */
  email: boolean;
  /** Channel deliveries that were "failed", now pending with their attempts reset. */
  channels: { channel: string; event: string }[];
  /** The alert's attempts and last error before, kept for the audit trail. */
  previous_attempts: number;
  previous_error?: string;
}

/** What to redeliver: given alerts, or every one that failed since a time (one of the two). */
export interface RedeliverOptions {
  ids?: string[];
  /** Alerts that became "failed", or have a channel delivery that did, at or after this time. */
  failedSince?: Date;
  actor: string;
  source: Redelivery["source"];
  /** @default the store's clock */
  now?: Date;
  /** Finds and reports what would be re-queued; changes and records nothing. */
  dryRun?: boolean;
  /** At most this many alerts with `failedSince`. @default 1000 */
  limit?: number;
}

/** What `redeliver` did: the redeliveries recorded (or, dry, that would be), and the alerts it left. */
export interface RedeliverResult {
  redelivered: Redelivery[];
  /** Given alerts with nothing failed to re-queue (or whose email retention removed), and why. */
  skipped: { alert_id: string; reason: string }[];
}

/**
 * Filter for listing alerts: `AlertListQuery` (the filter's fields: detector, status, severity, text,
 * after, until, suppressed_by, silence_id; the cursor and the order) with a status of the store's.
 */
export interface AlertQuery extends AlertListQuery {
  status?: AlertStatus;
}

/** What one retention batch cleared: alert bodies, rendered emails, and the bytes of data they held. */
export interface PurgeCounts {
  alerts: number;
  emails: number;
  bytes: number;
}

/**
 * Storm control's state (see `storm_window.ts` and docs/storm.md). Every decision is one atomic
 * operation, so two concurrent alerts of one fingerprint give one email, also across processes.
 */
export interface StormStore {
  /**
   * Decides on one alert (the rule is `decideWindow`) and records it atomically: the fingerprint's
   * window, the alert's `fingerprint`, and for a suppressed alert its status "suppressed" with
   * `suppressed_by`, `notified_id` and `silence_id`; a notify with `digest` also schedules the window's
   * timer (`window:<alert id>`, due at the window's end). Committed when it resolves; as claims and
   * outcomes, bookkeeping: the SQLite store does not wait for its fsync (see `sqlite/_storm.ts`).
   */
  decide(input: StormInput): Promise<StormDecision>;
  /**
   * The storm breaker for an alert of a detector without fingerprints that would be mailed: counts it,
   * or holds it (status "suppressed", reason `breaker`) in storm mode; `notice: "on"` when this alert
   * switched storm mode on (its 15-minute timer `breaker:<detector>:<time>` is scheduled with it).
   */
  breaker(
    input: { alertId: string; detector: string; now: Date; perHour: number },
  ): Promise<{ held: boolean; notice?: "on"; rate: number }>;
  /**
   * The 15-minute tick of storm mode: closes the period (its alerts go in the digest), then ends storm
   * mode when the period's rate is at most `perHour`, or schedules the next tick. Undefined when the
   * detector is not in storm mode.
   */
  breakerTick(
    input: { detector: string; now: Date; perHour: number },
  ): Promise<
    | { ended: boolean; periodStart: string; count: number; rate: number }
    | undefined
  >;
  /**
   * Hands over a group's waiting batch (`storm.group`), oldest first: every alert of it gets
   * `messageId` as its `message_id` (the grouped email) and, but the first, the first one's id as
   * `notified_id`; the group's `last_sent_at` becomes `now`. Empty when no batch waits (a timer run
   * twice). The batch already handed to `messageId` is handed again (with any alert that joined
   * since), so a grouped email whose send failed goes out, whole, when its timer runs again.
   */
  flushGroup(
    groupKey: string,
    options: { now: Date; messageId: string },
  ): Promise<AlertRecord[]>;
  /** Records an alert of a detector without fingerprints as suppressed by a silence (and counts it). */
  silenced(alertId: string, silenceId: string, at: Date): Promise<void>;
  /** The state of one fingerprint. */
  window(fingerprint: string): Promise<StormWindow | undefined>;
  /** Fingerprints of a detector (or all), most recently seen first. */
  windows(
    query?: { detector?: string; limit?: number },
  ): Promise<StormWindow[]>;
  /** Acks a fingerprint: its alerts are suppressed (`ack`) until it is quiet for the policy's ack_quiet. */
  ack(fingerprint: string, by: { actor: string; at: Date }): Promise<boolean>;
  /** Ends an ack now; false when it was not acked. */
  unack(fingerprint: string): Promise<boolean>;
  /** Schedules a timer; a timer with the same id already scheduled is kept as it is. */
  schedule(timer: StormTimer): Promise<void>;
  /** Leases up to `limit` due timers (due_at <= now, not done, lease lapsed), oldest first. */
  claimTimers(
    options: { now: Date; leaseMs: number; limit: number },
  ): Promise<StormTimer[]>;
  /** Marks a claimed timer done (it never fires again). */
  finishTimer(id: string, at: Date): Promise<void>;
  /** Stores a silence and schedules its end (`silence_end:<id>`). */
  addSilence(silence: NewSilence, at: Date): Promise<Silence>;
  getSilence(id: string): Promise<Silence | undefined>;
  /** Silences active at `now` (every one, newest first, with `all`). */
  listSilences(options: { now: Date; all?: boolean }): Promise<Silence[]>;
  /** Ends a silence at `now` and brings its end timer forward; false when unknown or already over. */
  expireSilence(id: string, now: Date): Promise<boolean>;
  /** Alerts suppressed by reason (one count each), for a notified alert or a silence. */
  suppressedCounts(
    query: { notified_id?: string; silence_id?: string },
  ): Promise<Partial<Record<SuppressedBy, number>>>;
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
  /**
   * `/alerts`: the alerts that match the filter grouped by storm fingerprint (an alert without one is
   * its own group), each group counted with its first and last seen, its newest alert, its window and
   * notified alert; newest last seen first, one page (`limit`, cursor `before`/`before_key`). Grouped
   * in the database: a storm of any size is one row and reads no alert body.
   */
  listAlertGroups(query?: AlertGroupQuery): Promise<AlertGroup[]>;
  /**
   * `/silences`: the windows of acked fingerprints (an ack lapses once the fingerprint has been
   * quiet for `ack_quiet`; the caller tells), most recently acked first, at most `limit` (default 100,
   * at most 500).
   */
  listAcks(query?: { limit?: number }): Promise<StormWindow[]>;
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
  requeueStale(options?: RequeueOptions): Promise<number>;
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
   * Queues channel deliveries durably (resolves once on disk). A delivery whose key is already
   * recorded is left as it is (processing an alert again never queues it twice).
   */
  insertDeliveries(deliveries: NewChannelDelivery[]): Promise<void>;
  /**
   * Claims up to `limit` due deliveries, oldest due first: "pending" ones with `next_attempt_at <= now`,
   * and "sending" ones whose lease expired (a worker died). Each is set to "sending" with a lease until
   * `now + leaseMs`.
   */
  claimDeliveries(
    options: { now?: Date; leaseMs: number; limit: number },
  ): Promise<ChannelDelivery[]>;
  /** Records an attempt's outcome; throws when there is no such delivery. */
  updateDelivery(
    key: ChannelDeliveryKey,
    patch: ChannelDeliveryPatch,
  ): Promise<void>;
  /** The channel deliveries of one alert, oldest first (the alert page shows each channel's state). */
  listDeliveries(alertId: string): Promise<ChannelDelivery[]>;
  /**
   * Re-queues failed deliveries (see {@link Redelivery}) and records each redelivery, atomically and
   * durably: an alert "failed" goes back to "retry" due now (or "queued" when it was never composed)
   * with its attempts reset, and its "failed" channel deliveries to "pending". An alert whose email or
   * body retention removed is skipped (redelivering it would compose a different email).
   */
  redeliver(options: RedeliverOptions): Promise<RedeliverResult>;
  /** The redeliveries of one alert, oldest first (its page's audit trail). */
  listRedeliveries(alertId: string): Promise<Redelivery[]>;
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
  /** Storm control's state. */
  readonly storm: StormStore;
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
