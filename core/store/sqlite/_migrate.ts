/**
 * The migration step of opening the SQLite store: brings the schema up to {@link MIGRATIONS}, inside
 * the caller's transaction (foreign keys off: see the check at the end), and refuses a database
 * written by a newer Blitz.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { MIGRATIONS } from "./_schema.ts";

/** Applies the migrations `db` lacks, recording each with the time `now()` gives. */
export function migrate(
  db: DatabaseSync,
  options: { path: string; now: () => string },
): void {
  db.exec(
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)",
  );
  const current = Number(
    db.prepare("SELECT max(version) AS v FROM schema_migrations").get()?.v ??
      0,
  );
  if (current > MIGRATIONS.length) {
    throw new Error(
      `Cannot open store "${options.path}": its schema version ${current} is newer than this Blitz supports (${MIGRATIONS.length}); upgrade Blitz`,
    );
  }
  const record = db.prepare(
    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
  );
  for (let version = current + 1; version <= MIGRATIONS.length; version++) {
    db.exec(MIGRATIONS[version - 1]!);
    record.run(version, options.now());
  }
  if (current === MIGRATIONS.length) return;
  // The caller runs this with foreign keys off (a rebuilt table is dropped and made again): every
  // reference must still hold before the transaction commits.
  const broken = db.prepare("PRAGMA foreign_key_check").all();
  if (broken.length > 0) {
    const first = broken[0]!;
    throw new Error(
      `Cannot migrate store "${options.path}": ${broken.length} rows of ${first.table} refer to missing rows of ${first.parent} (first: rowid ${first.rowid}); restore the file from a backup`,
    );
  }
}
