/**
 * An online, consistent copy of the SQLite store through SQLite's backup API (`node:sqlite`'s
 * `backup`): it reads through its own connection while `serve` keeps writing (WAL content included),
 * and starts over if the source changes mid-copy, so the copy is one committed state. It is written
 * to `<target>.partial`, checked (`PRAGMA integrity_check`), then renamed into place.
 *
 * (`VACUUM INTO` is not available: Deno's node:sqlite allows no attached databases.)
 *
 * @module
 */
import { backup, DatabaseSync } from "node:sqlite";

/** What a backup wrote. */
export interface BackupReport {
  target: string;
  bytes: number;
  alerts: number;
  actionRuns: number;
}

/** Copies the store at `source` to `target` (which must not exist); throws a clear Error otherwise. */
export async function backupSqliteFile(
  source: string,
  target: string,
): Promise<BackupReport> {
  try {
    await Deno.stat(source);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new Error(
        `No store at "${source}" to back up (is data_dir right?)`,
        { cause: err },
      );
    }
    throw err;
  }
  if (await exists(target)) {
    throw new Error(
      `"${target}" already exists: choose a new file name (a backup never overwrites)`,
    );
  }
  await Deno.mkdir(target.slice(0, target.lastIndexOf("/")) || "/", {
    recursive: true,
  });
  const partial = `${target}.partial`;
  await Deno.remove(partial).catch(() => {});
  const db = new DatabaseSync(source);
  try {
    db.exec("PRAGMA busy_timeout = 5000");
    await backup(db, partial);
  } finally {
    db.close();
  }
  let report: BackupReport;
  const copy = new DatabaseSync(partial);
  try {
    const check = copy.prepare("PRAGMA integrity_check").get()?.integrity_check;
    if (check !== "ok") {
      throw new Error(`The copy failed its integrity check: ${check}`);
    }
    const count = (table: string) =>
      Number(copy.prepare(`SELECT count(*) AS n FROM ${table}`).get()?.n);
    report = {
      target,
      bytes: 0,
      alerts: count("alerts"),
      actionRuns: count("action_runs"),
    };
    // A self-contained file: no -wal next to it.
    copy.exec("PRAGMA journal_mode = DELETE");
  } finally {
    copy.close();
  }
  await Deno.chmod(partial, 0o600);
  await Deno.rename(partial, target);
  report.bytes = (await Deno.stat(target)).size;
  return report;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}
