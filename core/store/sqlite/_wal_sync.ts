/**
 * The pipelined fsync of the WAL behind the SQLite store's group commit (`_sqlite_commit.ts`): after a
 * commit holding durable writes, the group commit hands them here, and they resolve once an fsync of
 * the WAL file that started after their commit completes (`syncData`, on Deno's blocking-I/O threads).
 * Up to four fsyncs run at once; commits made while all four run share the next one (the group commit
 * holds durable commits while one runs, so in serve more than one runs only when a commit without
 * durable writes made durable ones before it wait, or at close). A failed fsync breaks the store (the group commit's `failed`): it fails its writes and every
 * write waiting, and no fsync starts after it, for after a failed fsync the page cache cannot be trusted.
 *
 * @module
 */

/**
 * WAL fsyncs in flight at once. Each covers every commit before it started, so a commit need not wait
 * for an fsync already running before starting its own. (On the development machine 1 and 4 measured
 * the same within the noise; 4 keeps a slow fsync from holding up the commits behind it.) The group
 * commit's hold (`_commit.ts` #holdForSync) makes a second one rare.
 */
const MAX_SYNCS = 4;

/** A committed durable write waiting for the fsync that makes it durable. */
export interface Waiter {
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  value: unknown;
}

/** Options of {@link WalSync}. */
export interface WalSyncOptions {
  /** The database file: its WAL is `<path>-wal`; `:memory:` or `""` has none. */
  path: string;
  /** Makes the WAL durable. */
  syncWal: (file: Deno.FsFile) => Promise<void>;
  /**
   * Marks the store broken by the failure of `what` (calling {@link WalSync.fail}) and returns the
   * error every waiting write fails with.
   */
  failed: (err: unknown, what: string) => Error;
  /** Called after each fsync ends (its writes resolved or rejected): the group commit's cue. */
  ended?: () => void;
}

/** The WAL file of a SQLite connection and the fsyncs that make its committed durable writes durable. */
export class WalSync {
  #path: string;
  #syncWal: (file: Deno.FsFile) => Promise<void>;
  #failed: (err: unknown, what: string) => Error;
  #ended: (() => void) | undefined;
  /** The WAL file, for fsync; null when it cannot be opened (then durable commits use FULL). */
  #wal: Deno.FsFile | null | undefined;
  /** Durable writes committed and waiting for the next fsync of the WAL. */
  #unsynced: Waiter[] = [];
  /** WAL fsyncs in flight (at most MAX_SYNCS). */
  #syncs = new Set<Promise<void>>();
  /** Set by `fail`: no fsync starts after it. */
  #broken: Error | undefined;

  /** Keeps the options; opens nothing yet. */
  constructor(options: WalSyncOptions) {
    this.#path = options.path;
    this.#syncWal = options.syncWal;
    this.#failed = options.failed;
    this.#ended = options.ended;
  }

  /** The WAL fsyncs in flight: `close` awaits them until none runs (each may start the next). */
  get inFlight(): ReadonlySet<Promise<void>> {
    return this.#syncs;
  }

  /** The WAL file (`<path>-wal`), opened once; null for a memory database or when it cannot be opened. */
  file(): Deno.FsFile | null {
    if (this.#wal !== undefined) return this.#wal;
    if (this.#path === ":memory:" || this.#path === "") return this.#wal = null;
    return this.#wal = openForSync(`${this.#path}-wal`);
  }

  /** Queues the durable writes of a commit for the next fsync of the WAL and starts the fsyncs due. */
  queue(waiters: Waiter[]): void {
    for (const w of waiters) this.#unsynced.push(w);
    this.#startSyncs();
  }

  /** Fails every write waiting for an fsync with `broken`, the store's error; no fsync starts after. */
  fail(broken: Error): void {
    this.#broken ??= broken;
    for (const w of this.#unsynced.splice(0)) w.reject(broken);
  }

  /** One fsync of the WAL now, outside the pipeline (no waiter): for a close that leaves the WAL. */
  syncNow(): Promise<void> {
    const wal = this.file();
    return wal ? this.#syncWal(wal) : Promise.resolve();
  }

  /** Closes the WAL file, once no fsync is in flight. */
  close(): void {
    this.#wal?.close();
    this.#wal = null;
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
          const broken = this.#failed(err, `fsync of ${this.#path}-wal`);
          for (const w of waiting) w.reject(broken);
        },
      ).finally(() => {
        this.#syncs.delete(sync);
        if (!this.#broken) this.#startSyncs();
        this.#ended?.();
      });
      this.#syncs.add(sync);
    }
  }
}

/** A file opened read-only for fsync, or null when it cannot be opened. */
export function openForSync(path: string): Deno.FsFile | null {
  try {
    return Deno.openSync(path, { read: true });
  } catch {
    return null;
  }
}
