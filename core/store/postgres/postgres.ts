/**
 * The alert store on PostgreSQL, shared by every Blitz instance on one database (npm `postgres`, no
 * ORM). Every write is a transaction that resolves only after its COMMIT. Promises to others (an
 * alert behind a 202, a consumed nonce, an action run, a Jira key) commit with `synchronous_commit =
 * on`, so a failover to a synchronous standby cannot lose them; bookkeeping (claims, leases, status
 * and outcomes) commits with it off, as the SQLite store's NORMAL commits (see `#lazy`). The
 * statements are in one private file each: `_migrate.ts` (versioned migrations under an advisory
 * lock), `_alerts.ts` (inserts, updates, lists), `_lease.ts` (claims with `FOR UPDATE SKIP LOCKED`
 * and leases with an owner, renewed by `_queue.ts`, the instance's queue side), `_action_runs.ts` (single-use nonces), `_purge.ts` (retention as a
 * singleton) and `_wake.ts` (LISTEN/NOTIFY). `_url.ts` reads `store.url` (sslmode, sslrootcert).
 *
 * Leases: each store is one instance, with an owner id; it renews the leases of the alerts its
 * workers are on every third of the lease, so a lease lapses only when its instance is gone (or
 * could not record an outcome), and then any instance's `requeueStale()` puts the alert back in the
 * queue. Each instance also beats a heartbeat row every {@link HEARTBEAT_MS}; an action run left
 * "running" by an instance silent for {@link GONE_AFTER_MS} reads as "unknown" (never run again).
 *
 * @module
 */
import type { Sql } from "postgres";
import {
  countBacklog,
  listAcks,
  listAlertGroups,
  listAlerts,
  selectAlert,
  updateAlert,
} from "./_alerts.ts";
import {
  heartbeat,
  insertActionRun,
  selectActionRuns,
  updateActionRun,
} from "./_action_runs.ts";
import { PostgresQueue } from "./_queue.ts";
import { checkSchema, migrate } from "./_migrate.ts";
import { purgeBatch } from "./_purge.ts";
import { redeliverRows, selectRedeliveries } from "./_redeliver.ts";
import { redactUrl } from "./_url.ts";
import {
  canWrite,
  defaultOwner,
  isConnectionError,
  openPool,
} from "./_pool.ts";
import { Wake } from "./_wake.ts";
import {
  claimDueDeliveries,
  insertDeliveryRows,
  selectDeliveries,
  updateDeliveryRow,
} from "./_deliveries.ts";
import { PostgresStorm } from "./_storm.ts";
import type {
  ActionRun,
  AlertGroup,
  AlertGroupQuery,
  AlertPatch,
  AlertQuery,
  AlertRecord,
  ChannelDelivery,
  ChannelDeliveryKey,
  ChannelDeliveryPatch,
  NewAlert,
  NewChannelDelivery,
  PurgeCounts,
  QuarantinedAlert,
  RedeliverOptions,
  RedeliverResult,
  Redelivery,
  RequeueOptions,
  Store,
  StormWindow,
} from "../store.ts";

export { POSTGRES_SCHEMA_VERSION } from "./_schema.ts";
export { redactUrl } from "./_url.ts";
export { isConnectionError } from "./_pool.ts";

/** Options of {@link openPostgresStore}. */
export interface PostgresStoreOptions {
  clock?: () => Date;
  /** This instance's name, the owner of its leases and action runs. @default hostname:pid:random */
  owner?: string;
  /** Connections in the pool. @default 10 */
  max?: number;
  /** Seconds to wait for a connection before a call fails (the database is away). @default 5 */
  connectTimeout?: number;
  /**
   * Read-only (`replay`): every session's transactions are read-only, so any write fails; no
   * migration (the schema must be current), no heartbeat, no LISTEN. @default false
   */
  readOnly?: boolean;
}

/** Opens the store at `url`, applying missing migrations; throws a clear Error when it cannot. */
export async function openPostgresStore(
  url: string,
  options: PostgresStoreOptions = {},
): Promise<PostgresStore> {
  const store = new PostgresStore(url, options);
  try {
    await store.open();
  } catch (err) {
    await store.close().catch(() => {});
    throw new Error(
      `Cannot open store ${redactUrl(url)}: ${
        err instanceof Error ? err.message : String(err)
      }`,
      { cause: err },
    );
  }
  return store;
}

/** {@link Store} on PostgreSQL; create it with {@link openPostgresStore}. */
export class PostgresStore implements Store {
  readonly shared = true;
  /** Where the store is, password redacted (logs, `/healthz`). */
  readonly where: string;
  /** This instance's owner id. */
  readonly owner: string;
  /** Why the last call failed, while the database is away; undefined once a call succeeds again. */
  lastError: string | undefined;
  /** Storm control's state, decided per fingerprint under an advisory lock (`_storm.ts`). */
  readonly storm: PostgresStorm;
  #sql: Sql;
  /**
   * Bookkeeping (claims, leases, status and outcome updates, heartbeats): `synchronous_commit = off`,
   * as the SQLite store's NORMAL commits. Visible to every instance at COMMIT and atomic, on disk
   * within PostgreSQL's WAL writer delay (or with the next durable commit); a crash of the database
   * (or a failover to an asynchronous copy) can undo the last of them, which at worst mails an alert
   * again with the same Message-ID. Promises to others (inserts behind a 202, nonces, action runs,
   * Jira keys, `durable: true`) go through the synchronous pool.
   */
  #lazy: Sql;
  #clock: () => Date;
  #wake: Wake;
  #queue: PostgresQueue;
  #heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  #readOnly: boolean;

  /** Prefer {@link openPostgresStore}, which also migrates. */
  constructor(url: string, options: PostgresStoreOptions = {}) {
    this.where = redactUrl(url);
    this.#clock = options.clock ?? (() => new Date());
    this.owner = options.owner ?? defaultOwner();
    const pool = (synchronous: "on" | "off", max: number) =>
      openPool(url, {
        synchronous,
        max,
        connectTimeout: options.connectTimeout ?? 5,
        name: `blitz ${this.owner}`,
        readOnly: options.readOnly ?? false,
      });
    this.#readOnly = options.readOnly ?? false;
    this.#sql = pool("on", options.max ?? 10);
    this.#lazy = pool("off", Math.max(2, Math.ceil((options.max ?? 10) / 2)));
    this.#wake = new Wake(this.#sql);
    this.#queue = new PostgresQueue({
      sql: this.#sql,
      lazy: this.#lazy,
      wake: this.#wake,
      owner: this.owner,
      clock: this.#clock,
    });
    this.storm = new PostgresStorm(this.#sql, {
      call: (fn) => this.#call(fn),
      settled: (id) => this.#queue.settled(id),
    });
  }

  /** Migrates and starts listening for work other instances queue. */
  async open(): Promise<void> {
    if (this.#readOnly) {
      await this.#call(() => checkSchema(this.#sql, { where: this.where }));
      return;
    }
    await this.#call(() =>
      migrate(this.#sql, { where: this.where, now: () => this.#now() })
    );
    await this.#wake.listen().catch(() => {}); // polling still finds the work
    await this.#beat();
    this.#heartbeatTimer = setInterval(() => void this.#beat(), HEARTBEAT_MS);
    Deno.unrefTimer(this.#heartbeatTimer);
  }

  /** Records that this instance is alive (see {@link GONE_AFTER_MS}); an outage only delays it. */
  async #beat(): Promise<void> {
    await heartbeat(this.#lazy, { owner: this.owner, at: this.#now() })
      .catch(() => {});
  }

  /** Calls `listener` when any instance queued new alerts (LISTEN/NOTIFY); returns the unsubscribe. */
  onQueued(listener: (count: number) => void): () => void {
    return this.#wake.subscribe(listener);
  }

  insertAlerts(alerts: NewAlert[]): Promise<void> {
    return this.#call(async () => void await this.#queue.insert(alerts, false));
  }

  insertAlertsIdempotent(
    alerts: NewAlert[],
  ): Promise<{ id: string; duplicate: boolean }[]> {
    return this.#call(() => this.#queue.insert(alerts, true));
  }

  getAlert(id: string): Promise<AlertRecord | undefined> {
    return this.#call(() => selectAlert(this.#sql, id));
  }

  updateAlert(
    id: string,
    patch: AlertPatch,
    options?: { durable?: boolean },
  ): Promise<void> {
    const durable = options?.durable ?? "jira_keys" in patch;
    // An outcome: stop renewing the lease even if this write fails (then another instance takes over).
    if (patch.status !== undefined && patch.status !== "processing") {
      this.#queue.settled(id);
    }
    return this.#call(() =>
      updateAlert(durable ? this.#sql : this.#lazy, id, patch, {
        now: this.#now(),
      })
    );
  }

  listAlerts(query: AlertQuery = {}): Promise<AlertRecord[]> {
    return this.#call(() => listAlerts(this.#sql, query));
  }

  listAlertGroups(query: AlertGroupQuery = {}): Promise<AlertGroup[]> {
    return this.#call(() => listAlertGroups(this.#sql, query));
  }

  listAcks(query: { limit?: number } = {}): Promise<StormWindow[]> {
    return this.#call(() => listAcks(this.#sql, query.limit ?? 100));
  }

  backlog(): Promise<number> {
    return this.#call(() => countBacklog(this.#sql));
  }

  async claimNext(
    options: { now?: Date; leaseMs: number },
  ): Promise<AlertRecord | undefined> {
    return (await this.claimBatch({ ...options, limit: 1 }))[0];
  }

  claimBatch(
    options: { now?: Date; leaseMs: number; limit: number },
  ): Promise<AlertRecord[]> {
    const { limit } = options;
    if (!Number.isInteger(limit) || limit < 1) {
      return Promise.reject(new RangeError(`Invalid limit: ${limit}`));
    }
    return this.#call(() => this.#queue.claim(options));
  }

  async requeueStale(options: RequeueOptions = {}): Promise<number> {
    const quarantined: QuarantinedAlert[] = [];
    const requeued = await this.#call(() =>
      this.#queue.requeue(options, quarantined)
    );
    if (quarantined.length > 0) options.onQuarantined?.(quarantined);
    return requeued;
  }

  consumeNonce(run: ActionRun): Promise<{ run: ActionRun; created: boolean }> {
    return this.#call(() =>
      insertActionRun(this.#sql, run, { owner: this.owner })
    );
  }

  finishActionRun(
    nonce: string,
    patch: Partial<Pick<ActionRun, "finished_at" | "status" | "steps">>,
  ): Promise<void> {
    return this.#call(() => updateActionRun(this.#sql, nonce, patch));
  }

  listActionRuns(alertId: string): Promise<ActionRun[]> {
    const aliveSince = new Date(this.#clock().getTime() - GONE_AFTER_MS)
      .toISOString();
    return this.#call(() =>
      selectActionRuns(this.#sql, alertId, { owner: this.owner, aliveSince })
    );
  }

  insertDeliveries(deliveries: NewChannelDelivery[]): Promise<void> {
    return this.#call(() =>
      insertDeliveryRows(this.#sql, deliveries, this.#now())
    );
  }

  claimDeliveries(
    options: { now?: Date; leaseMs: number; limit: number },
  ): Promise<ChannelDelivery[]> {
    return this.#call(() =>
      claimDueDeliveries(this.#lazy, {
        now: options.now ?? this.#clock(),
        leaseMs: options.leaseMs,
        limit: options.limit,
      })
    );
  }

  updateDelivery(
    key: ChannelDeliveryKey,
    patch: ChannelDeliveryPatch,
  ): Promise<void> {
    return this.#call(() =>
      updateDeliveryRow(this.#sql, key, patch, this.#now())
    );
  }

  listDeliveries(alertId: string): Promise<ChannelDelivery[]> {
    return this.#call(() => selectDeliveries(this.#sql, alertId));
  }

  redeliver(options: RedeliverOptions): Promise<RedeliverResult> {
    const now = options.now ?? this.#clock();
    return this.#call(async () => {
      const result = await redeliverRows(this.#sql, { ...options, now });
      const emails = result.redelivered.filter((r) => r.email).length;
      if (!options.dryRun && emails > 0) this.#wake.announce(emails);
      return result;
    });
  }

  listRedeliveries(alertId: string): Promise<Redelivery[]> {
    return this.#call(() => selectRedeliveries(this.#sql, alertId));
  }

  purge(
    options: { alertsBefore: Date; emailsBefore: Date; limit: number },
  ): Promise<PurgeCounts> {
    return this.#call(() =>
      purgeBatch(this.#sql, {
        alertsBefore: options.alertsBefore.toISOString(),
        emailsBefore: options.emailsBefore.toISOString(),
        limit: options.limit,
        now: this.#now(),
      })
    );
  }

  async ping(): Promise<boolean> {
    if (this.#closed) return false;
    // A real write, rolled back: fails on a read-only standby after a failover, too.
    return await this.#call(() => canWrite(this.#sql)).catch(() => false);
  }

  /** The client, for `store copy` and tests in this folder's family. */
  get sql(): Sql {
    return this.#sql;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.stop();
    clearInterval(this.#heartbeatTimer);
    await this.#wake.close();
    await Promise.all([
      this.#sql.end({ timeout: 5 }),
      this.#lazy.end({ timeout: 5 }),
    ]);
  }

  /** Runs a call, remembering why it failed while the database is away (see `lastError`). */
  async #call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      const result = await fn();
      this.lastError = undefined;
      return result;
    } catch (err) {
      if (isConnectionError(err)) {
        this.lastError = `PostgreSQL ${this.where} unreachable: ${
          (err as Error).message
        }`;
      }
      throw err;
    }
  }

  #now(): string {
    return this.#clock().toISOString();
  }
}

/** How often an instance records that it is alive. */
export const HEARTBEAT_MS = 5_000;

/** An instance silent this long is gone: its action runs still "running" read as "unknown". */
export const GONE_AFTER_MS = 30_000;
