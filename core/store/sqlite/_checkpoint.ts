/**
 * The store's own WAL checkpoints (copying the WAL into the database file), which replace SQLite's
 * automatic checkpoint once the group commit (`_sqlite_commit.ts`) can fsync both files. The group
 * commit asks for one after each commit and starts it when one is due (see CHECKPOINT_EVERY).
 *
 * A checkpoint keeps the order SQLite's own `synchronous = NORMAL` checkpoint keeps, with the waits off
 * the event loop: take the write lock (no writer, in this process or another, until the end), fsync the
 * WAL, copy it into the database file (a second connection, `PRAGMA wal_checkpoint(PASSIVE)`, on its
 * own thread, `_checkpoint_thread.ts`, so the copy's CPU is not the event loop's), fsync
 * the database file, release the lock. Only then may a writer start the WAL over. Writes issued
 * meanwhile wait and commit together afterwards; reads, HTTP and mail go on. SQLite's automatic
 * checkpoint did both fsyncs inside a COMMIT, freezing the whole process for two disk flushes every
 * ~1,000 pages. A failed fsync breaks the store, as a failed fsync of the WAL does; a failed copy is
 * retried by the next checkpoint.
 *
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";

/**
 * When a checkpoint is due: after at least CHECKPOINT_EVERY group commits, once CHECKPOINT_MS have
 * passed since the last one ended, or after 16 × CHECKPOINT_EVERY commits whatever the time. Writes wait
 * during a checkpoint (two fsyncs), so under a burst they come at most about once a second: with a
 * simulated 10 ms fsync, checkpointing every 64 commits stalled the workers a third of the time. The
 * development workload wrote ~8 pages (8 KiB) per commit: the WAL stays under ~64 MB.
 */
const CHECKPOINT_EVERY = 64;
const CHECKPOINT_MS = 1_000;

/** The checkpoint thread's module. */
const THREAD_URL = new URL("./_checkpoint_thread.ts", import.meta.url).href;

/**
 * The checkpoint thread, or null when this process cannot start one: in the single-file bundle the
 * module is not beside this one (the bundle ships no thread file), so its checkpoints copy in-thread.
 */
function startThread(): Worker | null {
  if (!import.meta.url.endsWith("/core/store/sqlite/_checkpoint.ts")) {
    return null;
  }
  try {
    return new Worker(THREAD_URL, {
      type: "module",
      name: "sqlite-checkpoint",
    });
  } catch {
    return null;
  }
}

/** The store's busy_timeout (`store_sqlite.ts`), restored after a checkpoint's lock attempt. */
const BUSY_TIMEOUT_MS = 5_000;

/** Where the WAL file is truncated to when it starts over, after it grew during a long burst. */
const WAL_SIZE_LIMIT = 64 * 1024 * 1024;

/** Options of {@link Checkpointer}; `GroupCommit` takes the same. */
export interface CheckpointerOptions {
  /** The database file: its WAL is `<path>-wal`. */
  path: string;
  /** Makes the WAL durable. */
  syncWal: (file: Deno.FsFile) => Promise<void>;
  /** Makes the database file durable after a checkpoint. @default syncWal */
  syncDb?: (file: Deno.FsFile) => Promise<void>;
  /** Group commits before a checkpoint is due (see CHECKPOINT_EVERY). @default 64 */
  checkpointEvery?: number;
  /** Milliseconds from one checkpoint to the next under a steady load (see CHECKPOINT_MS). @default 1000 */
  checkpointMs?: number;
  /** The prepared statement for `sql`, from the store's statement cache. */
  sql: (sql: string) => StatementSync;
}

/** What a checkpoint tells the group commit that started it. */
export interface CheckpointHooks {
  /**
   * A step failed (`what`: "fsync of <file>" or "checkpoint of <file>"), the write lock still held:
   * the store can no longer be trusted.
   */
  failed: (err: unknown, what: string) => void;
  /** The checkpoint is over and the write lock released. */
  ended: () => void;
}

/** The checkpoints of a group commit's connection: when one is due, and how one runs. */
export class Checkpointer {
  #db: DatabaseSync;
  #sql: (sql: string) => StatementSync;
  #path: string;
  #syncWal: (file: Deno.FsFile) => Promise<void>;
  #syncDb: (file: Deno.FsFile) => Promise<void>;
  #every: number;
  #ms: number;
  /** The WAL and database files to fsync, the group commit's (it opens and closes them). */
  #wal: Deno.FsFile | null = null;
  #file: Deno.FsFile | null = null;
  /** The second connection that runs checkpoints while `#db` holds the write lock (without the thread). */
  #connection: DatabaseSync | undefined;
  /** The thread that copies (`_checkpoint_thread.ts`); null once it could not start or failed. */
  #thread: Worker | null | undefined;
  #count = 0;
  #failures = 0;
  #sinceCheckpoint = 0;
  /** When the last checkpoint ended (performance.now()); none yet: -Infinity. */
  #checkpointedAt = -Infinity;

  /** Checkpoints `db`, the group commit's connection; touches nothing until `takeOver`. */
  constructor(db: DatabaseSync, options: CheckpointerOptions) {
    this.#db = db;
    this.#sql = options.sql;
    this.#path = options.path;
    this.#syncWal = options.syncWal;
    this.#syncDb = options.syncDb ?? options.syncWal;
    this.#every = options.checkpointEvery ?? CHECKPOINT_EVERY;
    this.#ms = options.checkpointMs ?? CHECKPOINT_MS;
  }

  /** Turns SQLite's automatic checkpoint off: from now on checkpoints are ours, fsyncing `wal` and `file`. */
  takeOver(wal: Deno.FsFile, file: Deno.FsFile): void {
    this.#wal = wal;
    this.#file = file;
    this.#db.exec(
      `PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT}`,
    );
  }

  /** Checkpoints completed. */
  get count(): number {
    return this.#count;
  }

  /** Checkpoints whose copy failed (retried by the next; an fsync failure breaks the store instead). */
  get failures(): number {
    return this.#failures;
  }

  /** Counts a group commit towards the next checkpoint. */
  committed(): void {
    this.#sinceCheckpoint++;
  }

  /** True when a checkpoint is due (see CHECKPOINT_EVERY). */
  due(): boolean {
    const commits = this.#sinceCheckpoint;
    return commits >= this.#every &&
      (commits >= this.#every * 16 ||
        performance.now() - this.#checkpointedAt >= this.#ms);
  }

  /**
   * Takes the write lock for a checkpoint, without waiting: false when another connection holds it
   * (the next commits ask again). Waiting here would block the event loop for up to busy_timeout.
   */
  lock(): boolean {
    this.#sinceCheckpoint = 0;
    this.#db.exec("PRAGMA busy_timeout = 0");
    try {
      this.#sql("BEGIN IMMEDIATE").run();
      return true;
    } catch {
      return false;
    } finally {
      this.#db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
  }

  /**
   * One checkpoint, once `lock` has taken the write lock (see the module doc for the order and why).
   * The caller starts no commit until `hooks.ended`, and flushes the writes that waited then.
   */
  async run(hooks: CheckpointHooks): Promise<void> {
    // After a failed fsync the write lock stays held until the process exits: another process must not
    // start the WAL over (its only good copy) while the database file may have lost pages.
    let keepLock = false;
    try {
      try {
        await this.#syncWal(this.#wal!); // every frame to be copied is on disk first
      } catch (err) {
        keepLock = true;
        return hooks.failed(err, `fsync of ${this.#path}-wal`);
      }
      try {
        await this.#copy();
      } catch {
        // Not opening the second connection (out of file descriptors) or an I/O error while copying:
        // the WAL is whole and does not start over after an incomplete copy, so nothing is lost.
        // The next checkpoint copies again; `failures` counts these.
        this.#failures++;
        return;
      }
      try {
        await this.#syncDb(this.#file!); // before any writer may start the WAL over
      } catch (err) {
        keepLock = true;
        return hooks.failed(err, `fsync of ${this.#path}`);
      }
      this.#count++;
    } finally {
      try {
        if (!keepLock && this.#db.isOpen && this.#db.isTransaction) {
          this.#sql("ROLLBACK").run();
        }
      } finally {
        this.#checkpointedAt = performance.now();
        hooks.ended();
      }
    }
  }

  /** Closes the second connection and the thread (not the files: they are the group commit's). */
  close(): void {
    this.#connection?.close();
    this.#connection = undefined;
    this.#thread?.terminate();
    this.#thread = null;
  }

  /**
   * Copies the WAL into the database file: on the checkpoint thread, started on first use; in this
   * thread when it cannot start (see `startThread`) or once it failed.
   */
  async #copy(): Promise<void> {
    if (this.#thread === undefined) this.#thread = startThread();
    const thread = this.#thread;
    if (thread === null) {
      this.#checkpointConnection().prepare("PRAGMA wal_checkpoint(PASSIVE)")
        .get();
      return;
    }
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    thread.onmessage = (event: MessageEvent<{ ok: boolean; error?: string }>) =>
      event.data.ok ? resolve() : reject(new Error(event.data.error));
    thread.onerror = (event) => {
      event.preventDefault();
      // A thread that failed to load or crashed: this checkpoint is retried by the next, in this thread.
      thread.terminate();
      if (this.#thread === thread) this.#thread = null;
      reject(new Error(event.message));
    };
    thread.postMessage({ path: this.#path });
    await promise;
  }

  /** The second connection, opened on first use; it never syncs (the checkpoint's fsyncs are ours). */
  #checkpointConnection(): DatabaseSync {
    if (!this.#connection) {
      this.#connection = new DatabaseSync(this.#path);
      this.#connection.exec(
        `PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}; PRAGMA synchronous = OFF`,
      );
    }
    return this.#connection;
  }
}
