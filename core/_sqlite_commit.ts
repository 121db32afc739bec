/**
 * Group commit for the SQLite store: writes issued while the event loop is busy share one transaction,
 * and durable ones resolve only once the WAL is fsynced (see `store_sqlite.ts` for which writes are
 * durable and what that promises).
 *
 * The connection runs with `synchronous = NORMAL` and no automatic checkpoint, so SQLite never fsyncs
 * at a commit; after a commit holding durable writes the store fsyncs the WAL file itself,
 * asynchronously (`syncData`, on Deno's blocking-I/O threads), resolving those writes when it completes.
 * Up to four fsyncs run at once; commits made while all four run share the next one (pipelined group
 * commit). SQLite still makes two small fsyncs of its own, on purpose: the WAL's new header each time
 * the WAL starts over after a checkpoint (before any frame follows it: without that, a power loss could
 * replay old frames over newer pages), and the folder when it creates the WAL file. NORMAL also makes
 * the checkpoint SQLite runs when the store closes sync both files before it deletes the WAL.
 *
 * Checkpoints (copying the WAL into the database file) are the store's too: after each commit the group
 * commit asks its `Checkpointer` (`_sqlite_checkpoint.ts`, which has the when, the how and the why)
 * whether one is due, and starts it; writes issued while it runs wait and commit together afterwards.
 *
 * Without the WAL or the database file to fsync (a memory database, a file that cannot be opened), the
 * connection keeps SQLite's own scheme: `synchronous = NORMAL` with its automatic checkpoint, and FULL
 * for a batch holding durable writes. A failed fsync fails its writes and every later write: after a
 * failed fsync the page cache cannot be trusted.
 *
 * @module
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { Checkpointer } from "./_sqlite_checkpoint.ts";

/**
 * WAL fsyncs in flight at once. Each covers every commit before it started, so a commit need not wait
 * for an fsync already running before starting its own. (On the development machine 1 and 4 measured
 * the same within the noise; 4 keeps a slow fsync from holding up the commits behind it.)
 */
const MAX_SYNCS = 4;

/** A committed durable write waiting for the fsync that makes it durable. */
interface Waiter {
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  value: unknown;
}

/** Options of {@link GroupCommit}. */
export interface GroupCommitOptions {
  /** The database file: its WAL is `<path>-wal`; `:memory:` or `""` has none. */
  path: string;
  /** Makes the WAL durable. */
  syncWal: (file: Deno.FsFile) => Promise<void>;
  /** Makes the database file durable after a checkpoint. @default syncWal */
  syncDb?: (file: Deno.FsFile) => Promise<void>;
  /** Group commits before a checkpoint is due (see CHECKPOINT_EVERY in `_sqlite_checkpoint.ts`). @default 64 */
  checkpointEvery?: number;
  /** Milliseconds from one checkpoint to the next under a steady load (see CHECKPOINT_MS). @default 1000 */
  checkpointMs?: number;
  /** The prepared statement for `sql`, from the store's statement cache. */
  sql: (sql: string) => StatementSync;
}

/** The group-commit engine of a SQLite connection; the store owns one and sends it every write. */
export class GroupCommit {
  #db: DatabaseSync;
  #sql: (sql: string) => StatementSync;
  /** The connection's current `synchronous` setting (the store opens it with FULL). */
  #level: "FULL" | "NORMAL" = "FULL";
  /** True once `open` found both files to fsync: Blitz syncs and checkpoints, SQLite does neither. */
  #managed = false;
  #commits = { full: 0, normal: 0 };
  #path: string;
  /** The WAL file, for fsync; null when it cannot be opened (then durable commits use FULL). */
  #wal: Deno.FsFile | null | undefined;
  /** The database file, for the fsync that ends a checkpoint (managed mode only). */
  #file: Deno.FsFile | null = null;
  #syncWal: (file: Deno.FsFile) => Promise<void>;
  #checkpointer: Checkpointer;
  /** The checkpoint in progress: writes wait for it. */
  #checkpointing: Promise<void> | undefined;
  #closing = false;
  /** Durable writes committed and waiting for the next fsync of the WAL. */
  #unsynced: Waiter[] = [];
  /** WAL fsyncs in flight (at most MAX_SYNCS). */
  #syncs = new Set<Promise<void>>();
  /** Set by a failed fsync: every later write fails with it. */
  #broken: Error | undefined;
  #pending: {
    fn: () => unknown;
    /** The write changes the database with at most one statement (see write). */
    single: boolean;
    /** The commit must be on disk before the promise resolves (see write). */
    durable: boolean;
    resolve: (value: unknown) => void;
    reject: (err: unknown) => void;
  }[] = [];

  /** Takes over `db`, which the store opened with `synchronous = FULL`; touches nothing yet. */
  constructor(db: DatabaseSync, options: GroupCommitOptions) {
    this.#db = db;
    this.#sql = options.sql;
    this.#path = options.path;
    this.#syncWal = options.syncWal;
    this.#checkpointer = new Checkpointer(db, options);
  }

  /**
   * Called once the store has configured and migrated the connection: with both the WAL and the
   * database file open for fsync, turns SQLite's automatic checkpoints off (Blitz runs them, their
   * fsyncs off the event loop); otherwise leaves SQLite's own scheme. NORMAL either way.
   */
  open(): void {
    const wal = this.#walFile();
    const file = wal ? openForSync(this.#path) : null;
    if (wal && file) {
      this.#file = file;
      this.#managed = true;
      this.#checkpointer.takeOver(wal, file);
    }
    this.#setLevel("NORMAL");
  }

  /** Group commits so far: `full` made durable (fsynced), `normal` bookkeeping only. */
  get commits(): { full: number; normal: number } {
    return { ...this.#commits };
  }

  /** Checkpoints completed by the store (0 when SQLite checkpoints by itself). */
  get checkpoints(): number {
    return this.#checkpointer.count;
  }

  /** Checkpoints whose copy failed and that the next one retried. */
  get checkpointFailures(): number {
    return this.#checkpointer.failures;
  }

  /** True while a checkpoint holds the write lock (writes wait; the database is sound). */
  get checkpointing(): boolean {
    return this.#checkpointing !== undefined;
  }

  /** The error of a failed fsync, which fails every later write; undefined while the store is sound. */
  get broken(): Error | undefined {
    return this.#broken;
  }

  /** Sets the connection's `synchronous`, unless it already is. */
  #setLevel(level: "FULL" | "NORMAL"): void {
    if (level !== this.#level) {
      this.#db.exec(`PRAGMA synchronous = ${level}`);
      this.#level = level;
    }
  }

  /**
   * Runs `fn` atomically: in a write transaction taken up front (BEGIN IMMEDIATE, so it never fails to
   * upgrade), or in a savepoint when a group commit's transaction is already open.
   */
  transaction<T>(fn: () => T): T {
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
   * once pending I/O has run (setImmediate); each write sits in its own savepoint, so one failing write
   * never undoes the others. Every promise resolves only after the commit (and a durable one only after
   * the fsync that follows it).
   *
   * `single`: the write changes the database with at most one statement, and throws only before that
   * statement or when it changed nothing. SQLite undoes a failing statement by itself without ending
   * the transaction, so such a write needs no savepoint (two statements fewer per write).
   *
   * `durable` (default true): the write resolves once the WAL is fsynced after its commit (which also
   * makes every earlier commit durable); without the WAL file to fsync, its batch commits with
   * `synchronous = FULL` instead. A batch of only non-durable writes commits with no fsync at all.
   */
  write<T>(
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

  /**
   * Commits the writes already accepted, awaits every fsync and checkpoint in flight, and closes the
   * files (not the connection: the store does, unless `broken`).
   */
  async close(): Promise<void> {
    this.#closing = true;
    while (this.#checkpointing) await this.#checkpointing;
    this.#flush(); // writes already accepted are committed (and fsynced) before closing
    while (this.#syncs.size > 0) await Promise.all(this.#syncs);
    this.#checkpointer.close();
    this.#wal?.close();
    this.#wal = null;
    this.#file?.close();
    this.#file = null;
  }

  #flush(): void {
    if (this.#checkpointing) return; // the checkpoint flushes what waits when it ends
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
      this.#setLevel(durable && wal === null ? "FULL" : "NORMAL");
      this.#sql("BEGIN IMMEDIATE").run();
      for (const w of batch) {
        try {
          outcomes.push({
            ok: true,
            value: w.single ? w.fn() : this.transaction(w.fn),
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
      this.#checkpointer.committed();
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
    this.#checkpointIfDue();
  }

  /**
   * Starts the checkpoint `#checkpointer` finds due (see `_sqlite_checkpoint.ts`). While it runs
   * `#checkpointing` is set, so no flush starts; the writes that waited are flushed when it ends.
   */
  #checkpointIfDue(): void {
    if (!this.#managed || this.#closing || !this.#checkpointer.due()) return;
    if (!this.#checkpointer.lock()) return; // another process writes: after the next commits
    // Set before the run starts, so that an end reached at once still clears it.
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#checkpointing = promise;
    this.#checkpointer.run({
      failed: (err, what) => this.#fail(err, what),
      ended: () => {
        this.#checkpointing = undefined;
        resolve();
        if (this.#pending.length > 0) this.#flush();
      },
    }).catch((err) => this.#fail(err, `checkpoint of ${this.#path}`)); // never expected: run catches
  }

  /** Marks the store broken by a failed fsync (or checkpoint) and fails every write waiting. */
  #fail(err: unknown, what: string): void {
    this.#broken ??= new Error(
      `Cannot make writes durable: ${what} failed (${
        err instanceof Error ? err.message : String(err)
      }); restart Blitz once the disk is fixed`,
      { cause: err },
    );
    for (const w of this.#unsynced.splice(0)) w.reject(this.#broken);
    for (const w of this.#pending.splice(0)) w.reject(this.#broken);
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
          this.#fail(err, `fsync of ${this.#path}-wal`);
          for (const w of waiting) w.reject(this.#broken);
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
    return this.#wal = openForSync(`${this.#path}-wal`);
  }
}

/** A file opened read-only for fsync, or null when it cannot be opened. */
function openForSync(path: string): Deno.FsFile | null {
  try {
    return Deno.openSync(path, { read: true });
  } catch {
    return null;
  }
}
