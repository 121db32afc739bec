/**
 * Group commit for the SQLite store: writes issued while the event loop is busy share one transaction,
 * and durable ones resolve only once the WAL is fsynced (see `store_sqlite.ts` for which writes are
 * durable and what that promises).
 *
 * The connection runs with `synchronous = NORMAL` and no automatic checkpoint, so SQLite never fsyncs
 * at a commit; after a commit holding durable writes the store fsyncs the WAL file itself,
 * asynchronously, resolving those writes when it completes (`WalSync`, in `_wal_sync.ts`). While that
 * fsync runs, new durable writes wait and then commit together, followed by one fsync (`#holdForSync`):
 * one transaction per fsync, not one per event-loop turn.
 * SQLite still makes two small fsyncs of its own, on purpose: the WAL's new header each time the WAL
 * starts over after a checkpoint (before any frame follows it: without that, a power loss could replay
 * old frames over newer pages), and the folder when it creates the WAL file. NORMAL also makes
 * the checkpoint SQLite runs when the store closes sync both files before it deletes the WAL.
 *
 * Checkpoints (copying the WAL into the database file) are the store's too: after each commit the group
 * commit asks its `Checkpointer` (`_checkpoint.ts`, which has the when, the how and the why) whether one
 * is due, and starts it in the same turn (its guard must begin right after that commit). Writes go on
 * during its first phase; during its second, short one, which holds the write lock, writes issued wait
 * and commit together afterwards. One checkpoint runs at a time.
 *
 * Without the WAL or the database file to fsync (a memory database, a file that cannot be opened), the
 * connection keeps SQLite's own scheme: `synchronous = NORMAL` with its automatic checkpoint, and FULL
 * for a batch holding durable writes. A failed fsync fails its writes and every later write: after a
 * failed fsync the page cache cannot be trusted.
 *
 * @module
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { Checkpointer, type CheckpointerOptions } from "./_checkpoint.ts";
import { openForSync, type Waiter, WalSync } from "./_wal_sync.ts";
import { afterIo } from "../../timers.ts";

/**
 * Options of {@link GroupCommit}: the same as its checkpointer's (the database `path`, `syncWal`,
 * `syncDb`, `checkpointEvery`, `checkpointMs`, and `sql`, the store's statement cache); `path` may be
 * `:memory:` or `""`, which have no WAL.
 */
export type GroupCommitOptions = CheckpointerOptions;

/** Durable batches wait while this many WAL fsyncs are in flight (see #holdForSync). */
const HOLD_WHILE_SYNCING = 1;

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
  /** The WAL file and its fsyncs: durable writes wait there once committed. */
  #walSync: WalSync;
  /** The database file, for the fsync that ends a checkpoint (managed mode only). */
  #file: Deno.FsFile | null = null;
  #checkpointer: Checkpointer;
  /** The checkpoint in progress, both phases: no other starts, and close waits for it. */
  #checkpoint: Promise<void> | undefined;
  /** True while the checkpoint holds the write lock (its second phase): writes wait for it. */
  #checkpointing = false;
  #closing = false;
  /** Durable writes wait for the fsync in flight to end (see #holdForSync). */
  #held = false;
  /** Set by `close`: every later write fails, the connection is open or not. */
  #closed = false;
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
    this.#walSync = new WalSync({
      path: options.path,
      syncWal: options.syncWal,
      failed: (err, what) => this.#fail(err, what),
      ended: () => {
        if (this.#held) {
          this.#held = false;
          this.#flush();
        }
      },
    });
    this.#checkpointer = new Checkpointer(db, options);
  }

  /**
   * Called once the store has configured and migrated the connection: with both the WAL and the
   * database file open for fsync, turns SQLite's automatic checkpoints off (Blitz runs them, their
   * fsyncs off the event loop); otherwise leaves SQLite's own scheme. NORMAL either way.
   */
  open(): void {
    const wal = this.#walSync.file();
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
    return this.#checkpointing;
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
   * once pending I/O has run (setImmediate, or `afterIo`'s light form in a CLI command); each write sits in its own savepoint, so one failing write
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
      if (this.#pending.length === 1) afterIo(() => this.#flush());
    });
  }

  /**
   * Commits the writes already accepted, awaits every fsync and checkpoint in flight, and closes the
   * files (not the connection: the store does, unless `broken`). Writes after this fail. `sync`: one
   * last fsync of the WAL, for a connection left open at exit (no checkpoint at close will sync it).
   */
  async close(options?: { sync?: boolean }): Promise<void> {
    this.#closing = true;
    while (this.#checkpoint) await this.#checkpoint;
    this.#flush(); // writes already accepted are committed (and fsynced) before closing
    const syncs = this.#walSync.inFlight;
    while (syncs.size > 0) await Promise.all(syncs);
    this.#closed = true;
    if (options?.sync && !this.#broken) {
      try {
        await this.#walSync.syncNow();
      } catch (err) {
        this.#fail(err, `fsync of ${this.#path}-wal`);
      }
    }
    this.#checkpointer.close();
    this.#walSync.close();
    this.#file?.close();
    this.#file = null;
  }

  #flush(): void {
    if (this.#checkpointing) return; // the checkpoint flushes what waits when it ends
    if (this.#holdForSync()) return; // the fsync's end flushes what waits
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return;
    if (!this.#db.isOpen || this.#closed || this.#broken) {
      const err = this.#broken ?? new Error("The store is closed");
      for (const w of batch) w.reject(err);
      return;
    }
    const outcomes: { ok: boolean; value: unknown }[] = [];
    const durable = batch.some((w) => w.durable);
    const wal = durable ? this.#walSync.file() : null;
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
    const unsynced: Waiter[] = [];
    batch.forEach((w, i) => {
      const outcome = outcomes[i]!;
      if (!outcome.ok) w.reject(outcome.value);
      else if (w.durable && wal) {
        unsynced.push({
          resolve: w.resolve,
          reject: w.reject,
          value: outcome.value,
        });
      } else w.resolve(outcome.value);
    });
    this.#walSync.queue(unsynced);
    this.#checkpointIfDue();
  }

  /**
   * Group commit proper: while an fsync of the WAL is in flight, durable writes wait for it to end and
   * then commit together, each batch followed by one fsync. A write committed during an fsync needs
   * an fsync started after its commit anyway, so waiting costs it at most the rest of the fsync in
   * flight; one transaction and one WAL append per fsync instead of one per event-loop turn cut the
   * pages written per alert (an 8 KiB page of each of the alert's B-trees per commit) and the CPU per
   * alert. Writes queued behind a durable one wait with it (their order is kept). Never while closing.
   */
  #holdForSync(): boolean {
    if (this.#closing || this.#walSync.inFlight.size < HOLD_WHILE_SYNCING) {
      return false;
    }
    if (!this.#pending.some((w) => w.durable)) return false;
    this.#held = true;
    return true;
  }

  /**
   * Starts the checkpoint `#checkpointer` finds due (see `_checkpoint.ts`), right after a commit. While
   * it holds the write lock `#checkpointing` is set, so no flush starts; the writes that waited are
   * flushed when it lets go.
   */
  #checkpointIfDue(): void {
    if (
      !this.#managed || this.#closing || this.#checkpoint ||
      !this.#checkpointer.due()
    ) return;
    const run = this.#checkpointer.start({
      failed: (err, what) => this.#fail(err, what),
      locked: () => this.#checkpointing = true,
      unlocked: () => {
        this.#checkpointing = false;
        if (this.#pending.length > 0) this.#flush();
      },
    });
    if (!run) return; // another process writes: after the next commits
    const checkpoint: Promise<void> = run
      .catch((err) => void this.#fail(err, `checkpoint of ${this.#path}`)) // never expected: run catches
      .finally(() => {
        if (this.#checkpoint === checkpoint) this.#checkpoint = undefined;
      });
    this.#checkpoint = checkpoint;
  }

  /**
   * Marks the store broken by a failed fsync (or checkpoint) and fails every write waiting; returns the
   * error every later write fails with.
   */
  #fail(err: unknown, what: string): Error {
    this.#broken ??= new Error(
      `Cannot make writes durable: ${what} failed (${
        err instanceof Error ? err.message : String(err)
      }); restart Blitz once the disk is fixed`,
      { cause: err },
    );
    this.#walSync.fail(this.#broken);
    for (const w of this.#pending.splice(0)) w.reject(this.#broken);
    return this.#broken;
  }
}
