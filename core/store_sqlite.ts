/**
 * The alert store on `node:sqlite`: one file in WAL mode, written with group commit. Writes that promise
 * something to someone outside (a new alert behind a 202, a consumed action nonce, an action run, a Jira
 * key) are durable: their promise resolves only once the WAL is fsynced, power loss included.
 * Bookkeeping writes (a claim, a status or delivery outcome) resolve at commit: they survive a crash of
 * the process (the WAL is in the OS page cache) and reach the disk with the next fsync; a power loss can
 * undo the last of them, which at worst mails an alert again with the same Message-ID.
 *
 * The fsync never blocks the event loop: the connection runs with `synchronous = NORMAL`, and after a
 * commit holding durable writes the store fsyncs the WAL file itself, asynchronously (`syncData`, on
 * Deno's blocking-I/O threads), resolving those writes when it completes. Up to four fsyncs run at once;
 * commits made while all four run share the next one (pipelined group commit). If the WAL file cannot be opened,
 * durable batches fall back to `synchronous = FULL`. A failed fsync fails its writes and every later
 * write: after a failed fsync the page cache cannot be trusted.
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
import { dirname } from "./paths.ts";
import type {
  ActionRun,
  AlertPatch,
  AlertQuery,
  AlertRecord,
  AlertStatus,
  NewAlert,
  Store,
} from "./store.ts";

/** Schema migrations, in order: version N is `MIGRATIONS[N - 1]`. Append, never edit. */
const MIGRATIONS: readonly string[] = [
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
];

/** The schema version this code creates and understands. */
export const SQLITE_SCHEMA_VERSION: number = MIGRATIONS.length;

const DEFAULT_LIMIT = 50;
/**
 * WAL fsyncs in flight at once. Each covers every commit before it started, so a commit never waits for
 * an fsync that started before it plus its own: it starts one at once (the file system merges them).
 */
const MAX_SYNCS = 4;
const MAX_LIMIT = 500;
const SQLITE_CONSTRAINT_FOREIGNKEY = 787;

/** Fields `updateAlert` accepts, in the fixed order that keeps its statement cache small. */
const PATCH_FIELDS: readonly string[] = [
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
const JSON_FIELDS = new Set([
  "enrichments",
  "actions",
  "message",
  "delivery",
  "jira_keys",
  "condition",
]);

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
}

/** A committed durable write waiting for the fsync that makes it durable. */
interface Waiter {
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  value: unknown;
}

/** {@link Store} on a SQLite file; create it with {@link openSqliteStore}. */
export class SqliteStore implements Store {
  #db: DatabaseSync;
  #clock: () => Date;
  #statements = new Map<string, StatementSync>();
  /** The connection's current `synchronous` setting: true for FULL, false for NORMAL. */
  #syncFull = true;
  #commits = { full: 0, normal: 0 };
  #path: string;
  /** The WAL file, for fsync; null when it cannot be opened (then durable commits use FULL). */
  #wal: Deno.FsFile | null | undefined;
  #syncWal: (file: Deno.FsFile) => Promise<void>;
  /** Durable writes committed and waiting for the next fsync of the WAL. */
  #unsynced: Waiter[] = [];
  /** WAL fsyncs in flight (at most MAX_SYNCS). */
  #syncs = new Set<Promise<void>>();
  /** Set by a failed fsync: every later write fails with it. */
  #broken: Error | undefined;
  #pending: {
    fn: () => unknown;
    /** The write changes the database with at most one statement (see #write). */
    single: boolean;
    /** The commit must be on disk before the promise resolves (see #write). */
    durable: boolean;
    resolve: (value: unknown) => void;
    reject: (err: unknown) => void;
  }[] = [];

  /** Opens, configures and migrates the database; prefer {@link openSqliteStore}. */
  constructor(path: string, options?: SqliteStoreOptions) {
    this.#clock = options?.clock ?? (() => new Date());
    this.#path = path;
    this.#syncWal = options?.syncWal ?? ((file) => file.syncData());
    if (path !== ":memory:" && path !== "") {
      Deno.mkdirSync(dirname(path), { recursive: true });
    }
    this.#db = new DatabaseSync(path);
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
      this.#db.exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON");
      this.#migrate(path);
      this.#db.exec("PRAGMA synchronous = NORMAL");
      this.#syncFull = false;
    } catch (err) {
      this.#db.close();
      throw err;
    }
  }

  insertAlerts(alerts: NewAlert[]): Promise<void> {
    return this.#write(() => {
      if (alerts.length === 1) this.#insert(alerts[0]!); // one statement is already atomic
      else if (alerts.length > 1) {
        this.#transaction(() => alerts.forEach((alert) => this.#insert(alert)));
      }
    }, { single: alerts.length <= 1 });
  }

  insertAlertsIdempotent(
    alerts: NewAlert[],
  ): Promise<{ id: string; duplicate: boolean }[]> {
    const insertNew = (alert: NewAlert) => {
      if (alert.idempotency_key !== undefined) {
        const found = this.#sql(
          "SELECT id FROM alerts WHERE detector = ? AND idempotency_key = ?",
        )
          .get(alert.detector, alert.idempotency_key);
        if (found) return { id: String(found.id), duplicate: true };
      }
      this.#insert(alert);
      return { id: alert.id, duplicate: false };
    };
    // One alert: a lookup and at most one INSERT, atomic without a savepoint of its own.
    if (alerts.length === 1) {
      return this.#write(() => [insertNew(alerts[0]!)], { single: true });
    }
    return this.#write(() => this.#transaction(() => alerts.map(insertNew)));
  }

  getAlert(id: string): Promise<AlertRecord | undefined> {
    return settle(() => {
      const row = this.#sql("SELECT * FROM alerts WHERE id = ?").get(id);
      return row ? toAlert(row) : undefined;
    });
  }

  updateAlert(id: string, patch: AlertPatch): Promise<void> {
    return this.#write(() => {
      const given = patch as Record<string, unknown>;
      const unknown = Object.keys(given).find((field) =>
        !PATCH_FIELDS.includes(field)
      );
      if (unknown !== undefined) {
        throw new TypeError(
          `Cannot update alert "${id}": field "${unknown}" cannot be patched`,
        );
      }
      const sets = ["updated_at = :updated_at"];
      const params: Record<string, string | number | null> = {
        id,
        updated_at: this.#now(),
      };
      let recipients = "";
      for (const field of PATCH_FIELDS) {
        if (!(field in given) || field === "updated_at") continue;
        const value = given[field];
        if (field === "to" || field === "cc") {
          recipients = value === undefined
            ? `json_remove(${
              recipients || "COALESCE(recipients, '{}')"
            }, '$.${field}')`
            : `json_set(${
              recipients || "COALESCE(recipients, '{}')"
            }, '$.${field}', json(:${field}))`;
          if (value !== undefined) params[field] = JSON.stringify(value);
          continue;
        }
        if (
          value === undefined && (field === "status" || field === "attempts")
        ) continue; // required: cannot clear
        if (value === undefined) params[field] = null; // an optional field given as undefined is cleared
        else if (field === "next_attempt_at") {
          params[field] = toIso(value as string, field);
        } else if (JSON_FIELDS.has(field)) {
          params[field] = JSON.stringify(value);
        } else params[field] = value as string | number;
        sets.push(`${field} = :${field}`);
        if (field === "status" && value !== "processing") {
          sets.push("lease_until = NULL");
        }
      }
      if (recipients) sets.push(`recipients = NULLIF(${recipients}, '{}')`);
      const { changes } = this.#sql(
        `UPDATE alerts SET ${sets.join(", ")} WHERE id = :id`,
      ).run(params);
      if (Number(changes) === 0) {
        throw new Error(`Cannot update alert "${id}": no such alert`);
      }
    }, { single: true, durable: "jira_keys" in patch });
  }

  listAlerts(query: AlertQuery = {}): Promise<AlertRecord[]> {
    return settle(() => {
      const limit = Math.min(query.limit ?? DEFAULT_LIMIT, MAX_LIMIT);
      if (!Number.isInteger(limit) || limit < 1) {
        throw new RangeError(`Invalid limit: ${query.limit}`);
      }
      const where: string[] = [];
      const params: Record<string, string | number> = { limit };
      if (query.detector !== undefined) {
        where.push("detector = :detector");
        params.detector = query.detector;
      }
      if (query.status !== undefined) {
        where.push("status = :status");
        params.status = query.status;
      }
      if (query.before !== undefined) {
        where.push("received_at < :before");
        params.before = toIso(query.before, "before");
      }
      const filter = where.length > 0 ? `WHERE ${where.join(" AND ")}` : "";
      return this.#sql(
        `SELECT * FROM alerts ${filter} ORDER BY received_at DESC, rowid DESC LIMIT :limit`,
      )
        .all(params).map(toAlert);
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
    return this.#write(() => {
      const now = options.now ?? this.#clock();
      const row = this.#sql(
        `UPDATE alerts SET status = 'processing', lease_until = :lease_until, updated_at = :now
        WHERE id = (
          SELECT id FROM (
            SELECT * FROM (SELECT id, received_at, rowid AS seq FROM alerts WHERE status = 'queued'
              ORDER BY received_at, rowid LIMIT 1)
            UNION ALL
            SELECT * FROM (SELECT id, received_at, rowid AS seq FROM alerts WHERE status = 'retry'
              AND (next_attempt_at IS NULL OR next_attempt_at <= :now) ORDER BY received_at, rowid LIMIT 1)
          ) ORDER BY received_at, seq LIMIT 1
        ) RETURNING *`,
      ).get({
        now: now.toISOString(),
        lease_until: new Date(now.getTime() + options.leaseMs).toISOString(),
      });
      return row ? toAlert(row) : undefined;
    }, { durable: false });
  }

  claimBatch(
    options: { now?: Date; leaseMs: number; limit: number },
  ): Promise<AlertRecord[]> {
    return this.#write(() => {
      const { limit } = options;
      if (!Number.isInteger(limit) || limit < 1) {
        throw new RangeError(`Invalid limit: ${limit}`);
      }
      const now = options.now ?? this.#clock();
      const rows = this.#sql(
        `UPDATE alerts SET status = 'processing', lease_until = :lease_until, updated_at = :now
        WHERE id IN (
          SELECT id FROM (
            SELECT * FROM (SELECT id, received_at, rowid AS seq FROM alerts WHERE status = 'queued'
              ORDER BY received_at, rowid LIMIT :limit)
            UNION ALL
            SELECT * FROM (SELECT id, received_at, rowid AS seq FROM alerts WHERE status = 'retry'
              AND (next_attempt_at IS NULL OR next_attempt_at <= :now) ORDER BY received_at, rowid LIMIT :limit)
          ) ORDER BY received_at, seq LIMIT :limit
        ) RETURNING *, rowid AS seq`,
      ).all({
        now: now.toISOString(),
        lease_until: new Date(now.getTime() + options.leaseMs).toISOString(),
        limit,
      });
      // RETURNING has no order: oldest first, as claimNext would hand them out.
      rows.sort((a, b) =>
        a.received_at === b.received_at
          ? Number(a.seq) - Number(b.seq)
          : (a.received_at as string) < (b.received_at as string)
          ? -1
          : 1
      );
      return rows.map(toAlert);
    }, { durable: false });
  }

  requeueStale(options: { now?: Date; all?: boolean } = {}): Promise<number> {
    return this.#write(() => {
      const now = (options.now ?? this.#clock()).toISOString();
      const stale = options.all
        ? ""
        : "AND (lease_until IS NULL OR lease_until < :now)";
      const sql =
        `UPDATE alerts SET status = 'queued', lease_until = NULL, updated_at = :now
        WHERE status = 'processing' ${stale}`;
      return Number(this.#sql(sql).run({ now }).changes);
    }, { single: true, durable: false });
  }

  consumeNonce(run: ActionRun): Promise<{ run: ActionRun; created: boolean }> {
    return this.#write(() =>
      this.#transaction(() => {
        let changes: number | bigint;
        try {
          ({ changes } = this.#sql(
            `INSERT INTO action_runs (nonce, alert_id, button, actor, actor_source, client_ip, user_agent,
              started_at, finished_at, status, steps) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (nonce) DO NOTHING`,
          ).run(
            run.nonce,
            run.alert_id,
            run.button,
            run.actor,
            run.actor_source,
            run.client_ip ?? null,
            run.user_agent ?? null,
            toIso(run.started_at, "started_at"),
            run.finished_at === undefined
              ? null
              : toIso(run.finished_at, "finished_at"),
            run.status,
            JSON.stringify(run.steps),
          ));
        } catch (err) {
          if (
            (err as { errcode?: unknown }).errcode !==
              SQLITE_CONSTRAINT_FOREIGNKEY
          ) throw err;
          throw new Error(
            `Cannot consume nonce for alert "${run.alert_id}": no such alert`,
            { cause: err },
          );
        }
        const row = this.#sql("SELECT * FROM action_runs WHERE nonce = ?").get(
          run.nonce,
        );
        return { run: toActionRun(row!), created: Number(changes) === 1 };
      })
    );
  }

  finishActionRun(
    nonce: string,
    patch: Partial<Pick<ActionRun, "finished_at" | "status" | "steps">>,
  ): Promise<void> {
    return this.#write(() => {
      const sets: string[] = [];
      const params: Record<string, string | null> = { nonce };
      if ("finished_at" in patch) {
        sets.push("finished_at = :finished_at");
        params.finished_at = patch.finished_at === undefined
          ? null
          : toIso(patch.finished_at, "finished_at");
      }
      if (patch.status !== undefined) {
        sets.push("status = :status");
        params.status = patch.status;
      }
      if (patch.steps !== undefined) {
        sets.push("steps = :steps");
        params.steps = JSON.stringify(patch.steps);
      }
      const sql = sets.length > 0
        ? `UPDATE action_runs SET ${sets.join(", ")} WHERE nonce = :nonce`
        : "UPDATE action_runs SET nonce = nonce WHERE nonce = :nonce";
      if (Number(this.#sql(sql).run(params).changes) === 0) {
        throw new Error(`Cannot finish action run "${nonce}": no such run`);
      }
    }, { single: true });
  }

  listActionRuns(alertId: string): Promise<ActionRun[]> {
    return settle(() =>
      this.#sql(
        "SELECT * FROM action_runs WHERE alert_id = ? ORDER BY started_at, rowid",
      ).all(alertId)
        .map(toActionRun)
    );
  }

  /** Group commits so far: `full` made durable (fsynced), `normal` bookkeeping only. */
  get commits(): { full: number; normal: number } {
    return { ...this.#commits };
  }

  ping(): Promise<boolean> {
    if (this.#broken) return Promise.resolve(false);
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

  async close(): Promise<void> {
    this.#flush(); // writes already accepted are committed (and fsynced) before closing
    while (this.#syncs.size > 0) await Promise.all(this.#syncs);
    this.#wal?.close();
    this.#wal = null;
    if (this.#db.isOpen) this.#db.close();
    this.#statements.clear();
  }

  #migrate(path: string): void {
    this.#transaction(() => {
      this.#db.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)",
      );
      const current = Number(
        this.#db.prepare("SELECT max(version) AS v FROM schema_migrations")
          .get()?.v ?? 0,
      );
      if (current > MIGRATIONS.length) {
        throw new Error(
          `Cannot open store "${path}": its schema version ${current} is newer than this Blitz supports (${MIGRATIONS.length}); upgrade Blitz`,
        );
      }
      const record = this.#db.prepare(
        "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
      );
      for (let version = current + 1; version <= MIGRATIONS.length; version++) {
        this.#db.exec(MIGRATIONS[version - 1]!);
        record.run(version, this.#now());
      }
    });
  }

  #insert(alert: NewAlert): void {
    const now = this.#now();
    this.#sql(
      `INSERT INTO alerts (id, detector, received_at, updated_at, status, alert_json, idempotency_key)
      VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      alert.id,
      alert.detector,
      alert.received_at === undefined
        ? now
        : toIso(alert.received_at, "received_at"),
      now,
      alert.status ?? "queued",
      JSON.stringify(alert.alert),
      alert.idempotency_key ?? null,
    );
  }

  /**
   * Runs `fn` atomically: in a write transaction taken up front (BEGIN IMMEDIATE, so it never fails to
   * upgrade), or in a savepoint when a group commit's transaction is already open.
   */
  #transaction<T>(fn: () => T): T {
    if (this.#db.isTransaction) {
      this.#sql("SAVEPOINT tx").run();
      try {
        const result = fn();
        this.#sql("RELEASE tx").run();
        return result;
      } catch (err) {
        this.#sql("ROLLBACK TO tx").run();
        this.#sql("RELEASE tx").run();
        throw err;
      }
    }
    this.#sql("BEGIN IMMEDIATE").run();
    try {
      const result = fn();
      this.#sql("COMMIT").run();
      return result;
    } catch (err) {
      if (this.#db.isTransaction) this.#sql("ROLLBACK").run();
      throw err;
    }
  }

  /**
   * Group commit: writes issued while the event loop is busy are applied together in one transaction
   * (one fsync with synchronous = FULL) once pending I/O has run (setImmediate); each write sits in its own savepoint,
   * so one failing write never undoes the others. Every promise resolves only after the commit.
   *
   * `single`: the write changes the database with at most one statement, and throws only before that
   * statement or when it changed nothing. SQLite undoes a failing statement by itself without ending
   * the transaction, so such a write needs no savepoint (two statements fewer per write).
   *
   * `durable` (default true): the batch holding this write commits with `synchronous = FULL` (an fsync
   * of the WAL, which also makes every earlier commit durable); a batch of only non-durable writes
   * commits with `NORMAL` (no fsync).
   */
  #write<T>(
    fn: () => T,
    options?: { single?: boolean; durable?: boolean },
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({
        fn,
        single: options?.single ?? false,
        durable: options?.durable ?? true,
        resolve: resolve as (v: unknown) => void,
        reject,
      });
      if (this.#pending.length === 1) setImmediate(() => this.#flush());
    });
  }

  #flush(): void {
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return;
    if (!this.#db.isOpen || this.#broken) {
      const err = this.#broken ?? new Error("The store is closed");
      for (const w of batch) w.reject(err);
      return;
    }
    const outcomes: { ok: boolean; value: unknown }[] = [];
    const durable = batch.some((w) => w.durable);
    const wal = durable ? this.#walFile() : null;
    try {
      // Without the WAL file to fsync, a durable batch makes SQLite fsync inside COMMIT.
      const full = durable && wal === null;
      if (full !== this.#syncFull) {
        this.#db.exec(`PRAGMA synchronous = ${full ? "FULL" : "NORMAL"}`);
        this.#syncFull = full;
      }
      this.#sql("BEGIN IMMEDIATE").run();
      for (const w of batch) {
        try {
          outcomes.push({
            ok: true,
            value: w.single ? w.fn() : this.#transaction(w.fn),
          });
        } catch (err) {
          // Disk full or an I/O error makes SQLite roll back the whole transaction: then nothing of
          // this batch is committed, and every write of it fails.
          if (!this.#db.isTransaction) throw err;
          outcomes.push({ ok: false, value: err });
        }
      }
      this.#sql("COMMIT").run();
      this.#commits[durable ? "full" : "normal"]++;
    } catch (err) {
      if (this.#db.isTransaction) this.#sql("ROLLBACK").run();
      for (const w of batch) w.reject(err);
      return;
    }
    batch.forEach((w, i) => {
      const outcome = outcomes[i]!;
      if (!outcome.ok) w.reject(outcome.value);
      else if (w.durable && wal) {
        this.#unsynced.push({
          resolve: w.resolve,
          reject: w.reject,
          value: outcome.value,
        });
      } else w.resolve(outcome.value);
    });
    this.#startSyncs();
  }

  /** Starts fsyncs of the WAL for the committed durable writes waiting, up to MAX_SYNCS at once. */
  #startSyncs(): void {
    while (
      this.#unsynced.length > 0 && this.#syncs.size < MAX_SYNCS && this.#wal
    ) {
      const waiting = this.#unsynced;
      this.#unsynced = [];
      const sync: Promise<void> = this.#syncWal(this.#wal).then(
        () => {
          for (const w of waiting) w.resolve(w.value);
        },
        (err) => {
          this.#broken ??= new Error(
            `Cannot make writes durable: fsync of ${this.#path}-wal failed (${
              err instanceof Error ? err.message : String(err)
            }); restart Blitz once the disk is fixed`,
            { cause: err },
          );
          for (const w of [...waiting, ...this.#unsynced.splice(0)]) {
            w.reject(this.#broken);
          }
        },
      ).finally(() => {
        this.#syncs.delete(sync);
        if (!this.#broken) this.#startSyncs();
      });
      this.#syncs.add(sync);
    }
  }

  /** The WAL file (`<path>-wal`), opened once; null for a memory database or when it cannot be opened. */
  #walFile(): Deno.FsFile | null {
    if (this.#wal !== undefined) return this.#wal;
    if (this.#path === ":memory:" || this.#path === "") return this.#wal = null;
    try {
      this.#wal = Deno.openSync(`${this.#path}-wal`, { read: true });
    } catch {
      this.#wal = null;
    }
    return this.#wal;
  }

  /** The prepared statement for `sql`, prepared on first use and reused. */
  #sql(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      this.#statements.set(sql, statement = this.#db.prepare(sql));
    }
    return statement;
  }

  #now(): string {
    return this.#clock().toISOString();
  }
}

/** Runs synchronous work as a promise, so a throw becomes a rejection. */
function settle<T>(fn: () => T): Promise<T> {
  return new Promise((resolve) => resolve(fn()));
}

/** Normalises an ISO 8601 time to `toISOString()` form, which sorts as text. */
function toIso(value: string, field: string): string {
  const time = new Date(value);
  if (Number.isNaN(time.getTime())) {
    throw new RangeError(
      `Invalid ${field}: "${value}" is not an ISO 8601 time`,
    );
  }
  return time.toISOString();
}

type Row = Record<string, unknown>;

function toAlert(row: Row): AlertRecord {
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

function toActionRun(row: Row): ActionRun {
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
