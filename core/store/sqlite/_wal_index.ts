/**
 * What SQLite's wal-index (the `<db>-shm` file, https://www.sqlite.org/walformat.html §2.2) says about
 * the WAL right now: its last committed frame, how far checkpoints have copied it, and its salt, which
 * changes each time the WAL starts over. The checkpoints (`_checkpoint.ts`) read it to check that the
 * guard of their first phase holds a read mark that keeps writers from starting the WAL over.
 *
 * The header is 136 bytes at the start of the file, in the machine's byte order: two copies of
 * WalIndexHdr (48 bytes each: iVersion 3007000 at 0, isInit at 12, mxFrame at 16, aSalt at 32..40),
 * then WalCkptInfo (nBackfill at 96). SQLite maps the file into memory; a read of the file sees what
 * its connections wrote (one page cache). A header that does not read as SQLite's (another version, a
 * copy torn by a writer mid-update) reads as null: the caller then takes the blocking path.
 *
 * @module
 */

/** The wal-index fields a checkpoint needs. */
export interface WalState {
  /** The last frame committed to the WAL (0: empty). */
  mxFrame: number;
  /** Frames already copied into the database file (== mxFrame: the next writer starts the WAL over). */
  nBackfill: number;
  /** The WAL header's salts, hex: a different value means the WAL started over in between. */
  salt: string;
}

/** The wal-index header's size: two WalIndexHdr and the WalCkptInfo. */
const HEADER_BYTES = 136;
/** WalIndexHdr.iVersion of every SQLite 3.7+ wal-index. */
const WAL_INDEX_VERSION = 3007000;

/** The wal-index file of a database, read on demand. */
export class WalIndex {
  #path: string;
  /** The open `-shm` file; null once it could not be opened. */
  #file: Deno.FsFile | null | undefined;
  #buffer = new Uint8Array(HEADER_BYTES);

  /** Reads `<path>-shm`; opens nothing yet. */
  constructor(path: string) {
    this.#path = `${path}-shm`;
  }

  /** The WAL's state now, or null when the wal-index cannot be read or does not read as SQLite's. */
  read(): WalState | null {
    if (this.#file === undefined) {
      try {
        this.#file = Deno.openSync(this.#path, { read: true });
      } catch {
        this.#file = null;
      }
    }
    if (!this.#file) return null;
    const b = this.#buffer;
    try {
      this.#file.seekSync(0, Deno.SeekMode.Start);
      let n = 0;
      while (n < HEADER_BYTES) {
        const got = this.#file.readSync(b.subarray(n));
        if (got === null || got === 0) return null;
        n += got;
      }
    } catch {
      return null;
    }
    const view = new DataView(b.buffer, b.byteOffset, HEADER_BYTES);
    const little = view.getUint32(0, true) === WAL_INDEX_VERSION;
    if (!little && view.getUint32(0, false) !== WAL_INDEX_VERSION) return null;
    if (b[12] !== 1) return null; // isInit
    for (let i = 0; i < 48; i++) if (b[i] !== b[48 + i]) return null; // torn
    let salt = "";
    for (let i = 32; i < 40; i++) salt += b[i]!.toString(16).padStart(2, "0");
    return {
      mxFrame: view.getUint32(16, little),
      nBackfill: view.getUint32(96, little),
      salt,
    };
  }

  /** Closes the file; later reads are null. */
  close(): void {
    this.#file?.close();
    this.#file = null;
  }
}
