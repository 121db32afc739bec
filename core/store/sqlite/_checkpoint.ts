/**
 * The store's own WAL checkpoints (copying the WAL into the database file), which replace SQLite's
 * automatic checkpoint once the group commit (`_commit.ts`) can fsync both files. The group commit asks
 * for one after each commit and starts it when one is due (see CHECKPOINT_EVERY).
 *
 * Each copy keeps the order SQLite's own `synchronous = NORMAL` checkpoint keeps, with the waits off
 * the event loop: fsync the WAL (every frame copied is on disk first), copy it into the database file
 * (a second connection, `PRAGMA wal_checkpoint(PASSIVE)`, on its own thread, `_checkpoint_thread.ts`, so
 * the copy's CPU is not the event loop's), fsync the database file. No writer, in this process or
 * another, may start the WAL over (write frames from its start again) before that last fsync: a power
 * loss could then lose pages whose only durable copy was in the overwritten frames. A checkpoint runs
 * in two phases:
 *
 * 1. Writes go on. A read transaction on a third connection, the guard, begun in the same turn as the
 *    commit that asked for the checkpoint, holds a WAL read mark at that commit's last frame (a slot of
 *    its own, 1 or above). While it lasts, PASSIVE copies no frame past the mark, so only frames written
 *    before the WAL fsync that follows, and no writer can start the WAL over (SQLite needs every read
 *    mark above 0 free for that; writers append instead). Fsync the WAL, copy, fsync the database file,
 *    end the guard. This copies the bulk, about a second of writes under a burst.
 * 2. Writes wait, briefly: take the write lock (BEGIN IMMEDIATE on the store's connection, without
 *    waiting: when another process writes, this phase waits for the next checkpoint), fsync the WAL,
 *    copy the frames written during phase 1, fsync the database file, release the lock. The whole WAL
 *    is in the database file now, so the next writer starts it over: the WAL stays bounded (truncated
 *    to WAL_SIZE_LIMIT when it starts over after a long burst). Writes issued meanwhile wait and commit
 *    together afterwards; reads, HTTP and mail go on. Skipped when phase 1 copied everything (no
 *    commit during it): the next writer starts the WAL over anyway.
 *
 * Measured (the e2e and ingest benches, 3 runs each): writes used to wait 28–174 ms per checkpoint
 * under the e2e burst and 126–256 ms per NDJSON batch burst; now phase 2 holds them 6–20 ms and
 * 12–28 ms (2–29 ms for single alerts, 12–86 before), while phase 1 takes 14–295 ms with writes going.
 *
 * Why the guard's mark is one that protects, and how that is checked: SQLite gives a reader that begins
 * while the WAL is wholly copied (nBackfill == mxFrame) read-lock slot 0, which neither caps a copy nor
 * stops a restart. The guard begins right after a commit appended frames (nBackfill < mxFrame), and
 * nothing in this process copies in between (one checkpoint at a time). Another process (a CLI `ingest`
 * runs this same code) could in theory copy those frames in that instant, so the check does not rely on
 * timing: the wal-index (`_wal_index.ts`) read before the guard begins and after must show the same salt
 * (the WAL did not start over in between) and nBackfill still below the mxFrame read before. Both only
 * grow until the WAL starts over, so when the guard began frames were left to copy: its slot is 1 or
 * above. Otherwise (or when the wal-index cannot be read: another SQLite, another platform) the guard
 * ends and the checkpoint is phase 2 alone, the blocking checkpoint of old, which copies everything.
 *
 * A failed fsync breaks the store, as a failed fsync of the WAL does, and keeps the write lock (taken
 * then if phase 1 failed) and the guard until the process exits: nobody may start the WAL, its only
 * good copy, over. A failed copy is retried by the next checkpoint. Without the thread (the
 * single-file bundle) the copy runs on the event loop, in phase 1 with writes not held; PASSIVE never
 * waits for a lock, so nothing there can wait on the guard.
 *
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { WalIndex } from "./_wal_index.ts";

/**
 * When a checkpoint is due: after at least CHECKPOINT_EVERY group commits, once CHECKPOINT_MS have
 * passed since the last one ended, or after 16 × CHECKPOINT_EVERY commits whatever the time. Writes wait
 * during a checkpoint's second phase (two fsyncs), so under a burst they come at most about once a
 * second: with a simulated 10 ms fsync, checkpointing every 64 commits stalled the workers a third of
 * the time (when checkpoints held writes throughout). The development workload wrote ~8 pages (8 KiB)
 * per commit: the WAL stays under ~64 MB.
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
   * A step failed (`what`: "fsync of <file>"): the store can no longer be trusted. The write lock and
   * the guard stay held (see the module doc).
   */
  failed: (err: unknown, what: string) => void;
  /** The checkpoint took the write lock (phase 2): the caller starts no commit until `unlocked`. */
  locked: () => void;
  /** The write lock is released (or kept after a failed fsync): the caller flushes what waited. */
  unlocked: () => void;
}

/** How the steps of one phase ended. */
type Outcome = "done" | "copy failed" | "fsync failed";

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
  /** The second connection, which copies when the thread cannot (see `startThread`). */
  #connection: DatabaseSync | undefined;
  /** The thread that copies (`_checkpoint_thread.ts`); null once it could not start or failed. */
  #thread: Worker | null | undefined;
  /** The third connection, whose read transaction guards phase 1 (see the module doc). */
  #guard: DatabaseSync | undefined;
  /** Set when a fsync failed in phase 1: the guard stays open until the process exits. */
  #guardKept = false;
  /** The wal-index, read to check the guard's read mark. */
  #index: WalIndex;
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
    this.#index = new WalIndex(options.path);
  }

  /** Turns SQLite's automatic checkpoint off: from now on checkpoints are ours, fsyncing `wal` and `file`. */
  takeOver(wal: Deno.FsFile, file: Deno.FsFile): void {
    this.#wal = wal;
    this.#file = file;
    this.#db.exec(
      `PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT}`,
    );
  }

  /** Checkpoints completed (both phases of one count once). */
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
   * Starts a checkpoint; call it in the same turn as the commit that made it due (see the module doc).
   * Undefined when none starts: the guard could not be checked and another connection holds the
   * write lock (the next commits ask again). The caller starts no other checkpoint until the promise
   * settles; between `hooks.locked` and `hooks.unlocked` it starts no commit either.
   */
  start(hooks: CheckpointHooks): Promise<void> | undefined {
    this.#sinceCheckpoint = 0;
    const guarded = this.#beginGuard();
    if (!guarded && !this.#lock()) return undefined;
    return this.#run(guarded, hooks);
  }

  /** Closes the second and third connections and the thread (not the files: the group commit's). */
  close(): void {
    this.#connection?.close();
    this.#connection = undefined;
    if (!this.#guardKept) {
      this.#guard?.close();
      this.#guard = undefined;
    }
    this.#index.close();
    this.#thread?.terminate();
    this.#thread = null;
  }

  /** Both phases, or phase 2 alone when not `guarded` (the write lock then already taken). */
  async #run(guarded: boolean, hooks: CheckpointHooks): Promise<void> {
    try {
      let outcome: Outcome;
      if (guarded) {
        outcome = await this.#steps(hooks);
        if (outcome === "fsync failed") {
          // Nobody may start the WAL over, and no other process write: see the module doc.
          this.#guardKept = true;
          this.#lock();
          return;
        }
        this.#guard!.exec("COMMIT");
        if (outcome === "done" && this.#left() && this.#lock()) {
          outcome = await this.#locked(hooks);
        }
      } else outcome = await this.#locked(hooks);
      if (outcome === "done") this.#count++;
      else if (outcome === "copy failed") this.#failures++;
    } finally {
      this.#checkpointedAt = performance.now();
    }
  }

  /** The steps of phase 2, once `#lock` took the write lock; releases it, unless an fsync failed. */
  async #locked(hooks: CheckpointHooks): Promise<Outcome> {
    hooks.locked();
    let outcome: Outcome | undefined;
    try {
      outcome = await this.#steps(hooks);
      return outcome;
    } finally {
      try {
        // After a failed fsync the write lock stays held until the process exits: another process
        // must not start the WAL over (its only good copy) while the database file may have lost pages.
        if (
          outcome !== "fsync failed" && this.#db.isOpen &&
          this.#db.isTransaction
        ) {
          this.#sql("ROLLBACK").run();
        }
      } finally {
        hooks.unlocked();
      }
    }
  }

  /** The steps of either phase: fsync the WAL, copy, fsync the database file (see the module doc). */
  async #steps(hooks: CheckpointHooks): Promise<Outcome> {
    try {
      await this.#syncWal(this.#wal!); // every frame to be copied is on disk first
    } catch (err) {
      hooks.failed(err, `fsync of ${this.#path}-wal`);
      return "fsync failed";
    }
    try {
      await this.#copy();
    } catch {
      // Not opening the second connection (out of file descriptors) or an I/O error while copying:
      // the WAL is whole and does not start over after an incomplete copy, so nothing is lost.
      // The next checkpoint copies again; `failures` counts these.
      return "copy failed";
    }
    try {
      await this.#syncDb(this.#file!); // before any writer may start the WAL over
    } catch (err) {
      hooks.failed(err, `fsync of ${this.#path}`);
      return "fsync failed";
    }
    return "done";
  }

  /**
   * False when phase 1 copied the whole WAL (no commit during it): then the next writer starts it over
   * without phase 2. True when frames are left, or when the wal-index cannot tell.
   */
  #left(): boolean {
    const now = this.#index.read();
    return !now || now.nBackfill < now.mxFrame;
  }

  /**
   * Takes the write lock, without waiting: false when another connection holds it. Waiting here would
   * block the event loop for up to busy_timeout.
   */
  #lock(): boolean {
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
   * Begins the guard's read transaction and checks that its read mark protects (see the module doc);
   * false, with no transaction left open, when there is nothing to copy or it cannot tell.
   */
  #beginGuard(): boolean {
    const before = this.#index.read();
    if (!before || before.nBackfill >= before.mxFrame) return false;
    let guard: DatabaseSync | undefined;
    try {
      guard = this.#guardConnection();
      guard.exec("BEGIN");
      guard.prepare("SELECT 1 FROM schema_migrations LIMIT 1").get(); // the read, and its mark, begin
    } catch {
      if (guard?.isOpen && guard.isTransaction) guard.exec("ROLLBACK");
      return false;
    }
    const after = this.#index.read();
    if (
      after && after.salt === before.salt && after.nBackfill < before.mxFrame
    ) return true;
    guard.exec("COMMIT");
    return false;
  }

  /**
   * The guard's connection, opened on first use. It never waits for a lock (busy_timeout 0, as
   * `#lock`): a read in WAL mode waits only while another connection rebuilds the wal-index, and then
   * the checkpoint takes the blocking path rather than stall the event loop.
   */
  #guardConnection(): DatabaseSync {
    if (!this.#guard) {
      this.#guard = new DatabaseSync(this.#path);
      this.#guard.exec("PRAGMA busy_timeout = 0; PRAGMA synchronous = OFF");
    }
    return this.#guard;
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
