/**
 * The alert store on `node:sqlite`: one file in WAL mode, written with group commit. Writes that promise
 * something to someone outside (a new alert behind a 202, a consumed action nonce, an action run, a Jira
 * key) are durable: their promise resolves only once the WAL is fsynced, power loss included.
 * Bookkeeping writes (a claim, a status or delivery outcome) resolve at commit: they survive a crash of
 * the process (the WAL is in the OS page cache) and reach the disk with the next fsync; a power loss can
 * undo the last of them, which at worst mails an alert again with the same Message-ID.
 *
 * The group commit is in `_sqlite_commit.ts`, its fsync of the WAL in `_sqlite_wal_sync.ts` and the
 * checkpoints in `_sqlite_checkpoint.ts` (all their waits off the event loop); the schema and the
 * mapping from rows to records in `_sqlite_schema.ts`. The steps' SQL is in one private file each:
 * `_sqlite_migrate.ts` (opening), `_sqlite_insert.ts`,
 * `_sqlite_update.ts` (`updateAlert`), `_sqlite_list.ts` (`listAlerts`), `_sqlite_lease.ts` (claims and
 * requeues), `_sqlite_action_runs.ts` (nonces and action runs) and `_deliveries.ts` (the channel
 * outbox); this class runs them in its writes.
 *
 * node:sqlite is synchronous; methods still return promises to honour the {@link Store} contract, and
 * each runs to completion before the next starts, so calls never interleave inside a transaction. Other
 * connections (another process, a CLI) are serialised by SQLite's locks.
 *
 * Timestamps are stored as `Date#toISOString()` strings so they sort as text: `received_at`,
 * `next_attempt_at` and action-run times given in another ISO 8601 form are normalised on the way in.
 *
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import {
  insertActionRun,
  selectActionRuns,
  updateActionRun,
} from "./_action_runs.ts";
import { GroupCommit } from "./_commit.ts";
import {
  claimDueDeliveries,
  insertDeliveryRows,
  selectDeliveries,
  updateDeliveryRow,
} from "./_deliveries.ts";
import { findDuplicate, insertAlert, insertAlerts } from "./_insert.ts";
import { acksQuery, alertSelect, groupsSelect } from "./_list.ts";
import { toGroup } from "../alert_groups.ts";
import { claimDue, requeueLapsed } from "./_lease.ts";
import { migrate } from "./_migrate.ts";
import { purgeBatch } from "./_purge.ts";
import { redeliverRows, selectRedeliveries } from "./_redeliver.ts";
import { toAlert, toWindow } from "./_schema.ts";
import { updateAlertRow } from "./_update.ts";
import { SqliteStorm } from "./_storm.ts";
import { dirname } from "../../paths.ts";
import { isDiskFull } from "../store.ts";
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
  StormStore,
  StormWindow,
} from "../store.ts";

export { SQLITE_SCHEMA_VERSION } from "./_schema.ts";
export { type BackupReport, backupSqliteFile } from "./_backup.ts";
export { openSqliteReader, type StoreReader } from "./_reader.ts";

/** Opens (creating and migrating) the SQLite store at `path` (`:memory:` allowed). */
export function openSqliteStore(
  path: string,
  options?: SqliteStoreOptions,
): SqliteStore {
  return new SqliteStore(path, options);
}

/** Options of {@link openSqliteStore}. */
export interface SqliteStoreOptions {
  clock?: () => Date;
  /** Makes the WAL durable; tests inject a slow or failing one. @default file.syncData() */
  syncWal?: (file: Deno.FsFile) => Promise<void>;
  /** Makes the database file durable after a checkpoint; tests inject one. @default file.syncData() */
  syncDb?: (file: Deno.FsFile) => Promise<void>;
  /** Group commits before a checkpoint is due. @default 64 */
  checkpointEvery?: number;
  /** Milliseconds between checkpoints under a steady load. @default 1000 */
  checkpointMs?: number;
  /**
   * Runs `PRAGMA quick_check` before anything else and refuses a damaged file (`serve` at start; a
   * one-shot CLI run skips it, it reads the whole file). @default false
   */
  quickCheck?: boolean;
}

/** The store file is damaged: SQLite reports it malformed. The message says how to restore a backup. */
export class StoreDamagedError extends Error {
  override name = "StoreDamagedError";
  constructor(path: string, detail: string, options?: ErrorOptions) {
    super(
      `The store "${path}" is damaged (SQLite: ${detail}): Blitz will not use it. To restore: stop Blitz, move "${path}" and its "-wal" and "-shm" files aside (keep them for analysis), copy your latest backup (deno task backup <file>) to "${path}", and start again; alerts received since that backup are in the moved file only`,
      options,
    );
  }
}

/** True for SQLite's "database disk image is malformed" family (SQLITE_CORRUPT, SQLITE_NOTADB). */
function isCorruption(err: unknown): boolean {
  return /malformed|not a database|SQLITE_CORRUPT|SQLITE_NOTADB/i.test(
    String((err as Error)?.message ?? err),
  );
}

/** {@link Store} on a SQLite file; create it with {@link openSqliteStore}. */
export class SqliteStore implements Store {
  #db: DatabaseSync;
  #clock: () => Date;
  #statements = new Map<string, StatementSync>();
  /** Batches the writes into group commits and makes the durable ones durable. */
  #commit: GroupCommit;
  #path: string;
  /** Set by `close`, which may leave the connection open for the process's exit. */
  #closed = false;
  /**
   * The last write refused for a full disk, while no write has committed since: `ping` then tries a
   * real committed write instead of a rolled-back one (which succeeds on a full disk).
   */
  #full: { at: string; message: string } | undefined;
  /** Storm control's windows, timers and silences (`_storm.ts`), on this connection's group commit. */
  readonly storm: StormStore;

  /** Opens, configures and migrates the database; prefer {@link openSqliteStore}. */
  constructor(path: string, options?: SqliteStoreOptions) {
    this.#path = path;
    this.#clock = options?.clock ?? (() => new Date());
    if (path !== ":memory:" && path !== "") {
      Deno.mkdirSync(dirname(path), { recursive: true });
    }
    this.#db = new DatabaseSync(path);
    this.#commit = new GroupCommit(this.#db, {
      path,
      syncWal: options?.syncWal ?? ((file) => file.syncData()),
      syncDb: options?.syncDb ?? ((file) => file.syncData()),
      ...(options?.checkpointEvery
        ? { checkpointEvery: options.checkpointEvery }
        : {}),
      ...(options?.checkpointMs !== undefined
        ? { checkpointMs: options.checkpointMs }
        : {}),
      sql: (sql) => this.#sql(sql),
    });
    this.storm = new SqliteStorm({
      write: (fn, options) => this.#write(fn, options),
      transaction: (fn) => this.#commit.transaction(fn),
      sql: (sql) => this.#sql(sql),
    });
    try {
      // 8 KiB pages for a new file (an existing one keeps its size): a delivered alert's row holds its
      // email (~15 KB), and larger pages halve its overflow chain (measured 63 vs 81 µs per update).
      this.#db.exec("PRAGMA busy_timeout = 5000; PRAGMA page_size = 8192");
      const mode = this.#db.prepare("PRAGMA journal_mode = WAL").get()
        ?.journal_mode;
      if (mode !== "wal" && mode !== "memory") {
        throw new Error(
          `Cannot open store "${path}": WAL mode unavailable (got ${mode})`,
        );
      }
      if (options?.quickCheck && path !== ":memory:" && path !== "") {
        const rows = this.#db.prepare("PRAGMA quick_check").all();
        const verdict = rows.map((r) => String(r.quick_check)).join("; ");
        if (verdict !== "ok") throw new StoreDamagedError(path, verdict);
      }
      // Foreign keys off while migrating: a table rebuild (migration 10) drops the table others refer
      // to; `migrate` checks every reference before its transaction commits.
      this.#db.exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = OFF");
      this.#commit.transaction(() =>
        migrate(this.#db, { path, now: () => this.#now() })
      );
      this.#db.exec("PRAGMA foreign_keys = ON");
      this.#commit.open();
    } catch (err) {
      this.#db.close();
      if (isCorruption(err) && !(err instanceof StoreDamagedError)) {
        throw new StoreDamagedError(path, (err as Error).message, {
          cause: err,
        });
      }
      throw err;
    }
  }

  insertAlerts(alerts: NewAlert[]): Promise<void> {
    return this.#write(
      () => {
        const now = this.#now();
        if (alerts.length === 1) this.#insert(alerts[0]!, now); // one statement is already atomic
        else if (alerts.length > 1) {
          this.#commit.transaction(() =>
            insertAlerts(this.#sql, alerts, { now })
          );
        }
      },
      { single: alerts.length <= 1 },
      true,
    );
  }

  insertAlertsIdempotent(
    alerts: NewAlert[],
  ): Promise<{ id: string; duplicate: boolean }[]> {
    // One clock reading per call: the alerts of one request share their updated_at.
    const insertNew = (alert: NewAlert, now: string) => {
      const found = findDuplicate(this.#sql, alert);
      if (found !== undefined) return { id: found, duplicate: true };
      this.#insert(alert, now);
      return { id: alert.id, duplicate: false };
    };
    // One alert: a lookup and at most one INSERT, atomic without a savepoint of its own.
    if (alerts.length === 1) {
      return this.#write(() => [insertNew(alerts[0]!, this.#now())], {
        single: true,
      }, true);
    }
    return this.#write(
      () => {
        const now = this.#now();
        return this.#commit.transaction(() => {
          // Runs of alerts without a key go in several rows per statement; one with a key is looked
          // up first (it may repeat one stored, or one earlier in this batch), in order.
          const results: { id: string; duplicate: boolean }[] = [];
          let run: NewAlert[] = [];
          const flush = () => {
            if (run.length > 0) insertAlerts(this.#sql, run, { now });
            run = [];
          };
          for (const alert of alerts) {
            if (alert.idempotency_key === undefined) {
              run.push(alert);
              results.push({ id: alert.id, duplicate: false });
            } else {
              flush();
              results.push(insertNew(alert, now));
            }
          }
          flush();
          return results;
        });
      },
      {},
      true,
    );
  }

  getAlert(id: string): Promise<AlertRecord | undefined> {
    return settle(() => {
      const row = this.#sql("SELECT * FROM alerts WHERE id = ?").get(id);
      return row ? toAlert(row) : undefined;
    });
  }

  updateAlert(
    id: string,
    patch: AlertPatch,
    options?: { durable?: boolean },
  ): Promise<void> {
    return this.#write(
      () => updateAlertRow(this.#sql, id, patch, { now: this.#now() }),
      { single: true, durable: options?.durable ?? "jira_keys" in patch },
    );
  }

  purge(
    options: { alertsBefore: Date; emailsBefore: Date; limit: number },
  ): Promise<PurgeCounts> {
    // One batch is one bookkeeping commit (a savepoint in the group commit): a crash loses at most a
    // batch to be cleared again.
    return this.#write(() =>
      purgeBatch((sql) => this.#sql(sql), {
        alertsBefore: options.alertsBefore.toISOString(),
        emailsBefore: options.emailsBefore.toISOString(),
        limit: options.limit,
        now: this.#now(),
      })
    );
  }

  listAlerts(query: AlertQuery = {}): Promise<AlertRecord[]> {
    return settle(() => {
      const { sql, params } = alertSelect(query);
      return this.#sql(sql).all(params).map(toAlert);
    });
  }

  listAlertGroups(query: AlertGroupQuery = {}): Promise<AlertGroup[]> {
    return settle(() => {
      const { sql, params } = groupsSelect(query);
      return this.#sql(sql).all(params).map(toGroup);
    });
  }

  listAcks(query: { limit?: number } = {}): Promise<StormWindow[]> {
    return settle(() => {
      const { sql, params } = acksQuery(query.limit ?? 100);
      return this.#sql(sql).all(params).map(toWindow);
    });
  }

  backlog(): Promise<number> {
    return settle(() =>
      Number(
        this.#sql(
          "SELECT count(*) AS n FROM alerts WHERE status IN ('queued', 'processing', 'retry')",
        ).get()?.n,
      )
    );
  }

  claimNext(
    options: { now?: Date; leaseMs: number },
  ): Promise<AlertRecord | undefined> {
    return this.#write(
      () =>
        claimDue(this.#sql, {
          now: options.now ?? this.#clock(),
          leaseMs: options.leaseMs,
          limit: 1,
        })[0],
      { durable: false },
    );
  }

  claimBatch(
    options: { now?: Date; leaseMs: number; limit: number },
  ): Promise<AlertRecord[]> {
    // claimDue refuses a limit that is not a positive integer (it is written into the SQL).
    return this.#write(() =>
      claimDue(this.#sql, {
        now: options.now ?? this.#clock(),
        leaseMs: options.leaseMs,
        limit: options.limit,
      }), { durable: false });
  }

  async requeueStale(options: RequeueOptions = {}): Promise<number> {
    const quarantined: QuarantinedAlert[] = [];
    const requeued = await this.#write(
      () =>
        requeueLapsed(this.#sql, {
          now: options.now ?? this.#clock(),
          all: options.all,
          quarantineAfter: options.quarantineAfter ?? 3,
        }, quarantined),
      { single: false, durable: false }, // several statements: quarantine, then requeue
    );
    if (quarantined.length > 0) options.onQuarantined?.(quarantined);
    return requeued;
  }

  consumeNonce(run: ActionRun): Promise<{ run: ActionRun; created: boolean }> {
    return this.#write(() =>
      this.#commit.transaction(() => insertActionRun(this.#sql, run))
    );
  }

  finishActionRun(
    nonce: string,
    patch: Partial<Pick<ActionRun, "finished_at" | "status" | "steps">>,
  ): Promise<void> {
    return this.#write(
      () => updateActionRun(this.#sql, nonce, patch),
      { single: true },
    );
  }

  listActionRuns(alertId: string): Promise<ActionRun[]> {
    return settle(() => selectActionRuns(this.#sql, alertId));
  }

  insertDeliveries(deliveries: NewChannelDelivery[]): Promise<void> {
    return this.#write(() => {
      if (deliveries.length === 0) return;
      this.#commit.transaction(() =>
        insertDeliveryRows(this.#sql, deliveries, this.#now())
      );
    }, { durable: true });
  }

  claimDeliveries(
    options: { now?: Date; leaseMs: number; limit: number },
  ): Promise<ChannelDelivery[]> {
    return this.#write(() => {
      const { limit } = options;
      if (!Number.isInteger(limit) || limit < 1) {
        throw new RangeError(`Invalid limit: ${limit}`);
      }
      return claimDueDeliveries(this.#sql, {
        now: options.now ?? this.#clock(),
        leaseMs: options.leaseMs,
        limit,
      });
    }, { durable: false });
  }

  updateDelivery(
    key: ChannelDeliveryKey,
    patch: ChannelDeliveryPatch,
  ): Promise<void> {
    return this.#write(
      () => updateDeliveryRow(this.#sql, key, patch, this.#now()),
      { single: true, durable: false },
    );
  }

  listDeliveries(alertId: string): Promise<ChannelDelivery[]> {
    return settle(() => selectDeliveries(this.#sql, alertId));
  }

  redeliver(options: RedeliverOptions): Promise<RedeliverResult> {
    const now = options.now ?? this.#clock();
    if (options.dryRun) {
      // Reads only: the same selection, nothing written.
      return settle(() => redeliverRows(this.#sql, { ...options, now }));
    }
    // A promise to the person who asked (and the audit trail): durable.
    return this.#write(() => redeliverRows(this.#sql, { ...options, now }));
  }

  listRedeliveries(alertId: string): Promise<Redelivery[]> {
    return settle(() => selectRedeliveries(this.#sql, alertId));
  }

  /** Group commits so far: `full` made durable (fsynced), `normal` bookkeeping only. */
  get commits(): { full: number; normal: number } {
    return this.#commit.commits;
  }

  /** Checkpoints the store made (see `_sqlite_checkpoint.ts`). */
  get checkpoints(): number {
    return this.#commit.checkpoints;
  }

  /** Checkpoints whose copy failed (retried by the next one). */
  get checkpointFailures(): number {
    return this.#commit.checkpointFailures;
  }

  ping(): Promise<boolean> {
    if (this.#commit.broken || this.#closed) return Promise.resolve(false);
    if (this.#full) {
      // A rolled-back write succeeds on a full disk: only a real commit of what an alert needs (a
      // row of about 2 KB in the alerts table and its indexes, inserted and deleted) says that
      // space came back.
      return this.#write(
        () => {
          const at = this.#now();
          this.#sql(
            `INSERT INTO alerts (id, detector, received_at, updated_at, status, alert_json)
          VALUES (:id, '', :at, :at, 'probe', :json)`,
          ).run({ id: PROBE_ID, at, json: PROBE_JSON });
          this.#sql("DELETE FROM alerts WHERE id = ?").run(PROBE_ID);
        },
        { durable: false },
        true,
      ).then(() => true, () => false);
    }
    // A checkpoint holds the write lock until the database file is fsynced: writes wait, nothing fails.
    if (this.#commit.checkpointing) return Promise.resolve(true);
    try {
      // A real (rolled back) write: takes the write lock and fails on a read-only or closed database.
      this.#db.exec(`SAVEPOINT ping;
        UPDATE schema_migrations SET applied_at = applied_at WHERE version = (SELECT max(version) FROM schema_migrations);
        ROLLBACK TO ping; RELEASE ping`);
      return Promise.resolve(true);
    } catch {
      if (this.#db.isOpen && this.#db.isTransaction) this.#db.exec("ROLLBACK");
      return Promise.resolve(false);
    }
  }

  /**
   * Commits what was accepted and closes; SQLite then checkpoints (syncing both files) and deletes
   * the WAL when this is the last connection.
   *
   * `exiting` (the process ends right after, one CLI `ingest` per alert): while the WAL is small the
   * connection is left to the exit instead, so the WAL stays for the next process, sparing the
   * checkpoint's two fsyncs and the WAL's delete and re-create (two more). The next process to open
   * the file alone rebuilds its index by reading the WAL, which is why it must stay small: past
   * LEAVE_WAL_BELOW this close checkpoints as usual. What was committed is as durable as the writes
   * made it (the CLI's outcome is fsynced).
   *
   * A broken store (a failed fsync) is never closed: the checkpoint at close could fsync
   * "successfully" pages the kernel already dropped and then delete the only good copy, the WAL. The
   * process exits like after a crash and the next start recovers from the WAL.
   */
  async close(options?: { exiting?: boolean }): Promise<void> {
    const size = options?.exiting ? walSize(this.#path) : undefined;
    const leaveWal = size !== undefined && size < LEAVE_WAL_BELOW;
    // Writes already accepted are committed (and fsynced) first; a WAL left behind is fsynced whole,
    // bookkeeping commits included, since no checkpoint at close will do it.
    await this.#commit.close({ sync: leaveWal });
    this.#closed = true;
    const leave = this.#commit.broken !== undefined || leaveWal;
    if (this.#db.isOpen && !leave) this.#db.close();
    this.#statements.clear();
  }

  /**
   * Every write goes through here to the group commit: a write refused for a full disk marks the store
   * full. Only a committed alert insert (`accepts`: new alerts, or `ping`'s probe of one) clears it: a
   * small bookkeeping write can still fit on a disk too full for an alert.
   */
  #write<T>(
    fn: () => T,
    options?: { single?: boolean; durable?: boolean },
    accepts = false,
  ): Promise<T> {
    return this.#commit.write(fn, options).then((value) => {
      if (accepts) this.#full = undefined;
      return value;
    }, (err: unknown) => {
      if (isDiskFull(err)) {
        this.#full ??= {
          at: this.#now(),
          message: err instanceof Error ? err.message : String(err),
        };
      }
      throw err;
    });
  }

  /** Why the store cannot be written right now, for `/healthz`: a full disk, or a failed fsync. */
  get lastError(): string | undefined {
    if (this.#commit.broken) return this.#commit.broken.message;
    if (!this.#full) return undefined;
    return `The disk of the store "${this.#path}" is full (${this.#full.message}) since ${this.#full.at}: new alerts are refused with 503; free space on it and Blitz resumes by itself`;
  }

  #insert(alert: NewAlert, now: string): void {
    insertAlert(this.#sql, alert, { now });
  }

  /** The prepared statement for `sql`, prepared once and reused; an arrow, so helpers take it as is. */
  #sql = (sql: string): StatementSync => {
    let statement = this.#statements.get(sql);
    if (!statement) {
      this.#statements.set(sql, statement = this.#db.prepare(sql));
    }
    return statement;
  };

  #now(): string {
    return this.#clock().toISOString();
  }
}

/** `ping`'s probe of a full disk: an alert row inserted and deleted in one committed write. */
const PROBE_ID = "00000000-0000-0000-0000-000000000000-health-probe";
const PROBE_JSON = JSON.stringify({ probe: "x".repeat(2048) });

/** The WAL size up to which an exiting process leaves it for the next (see `close`): 128 pages of 8 KiB. */
const LEAVE_WAL_BELOW = 1024 * 1024;

/** Bytes in the WAL file of the database at `path`; undefined without one (`:memory:` too). */
function walSize(path: string): number | undefined {
  if (path === ":memory:" || path === "") return undefined;
  try {
    return Deno.statSync(`${path}-wal`).size;
  } catch {
    return undefined;
  }
}

/** Runs synchronous work as a promise, so a throw becomes a rejection. */
function settle<T>(fn: () => T): Promise<T> {
  return new Promise((resolve) => resolve(fn()));
}
