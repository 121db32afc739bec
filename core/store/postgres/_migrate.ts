/**
 * The migration step of opening the PostgreSQL store: brings the schema up to {@link MIGRATIONS} in
 * one transaction under an advisory lock, so instances starting together apply each migration once
 * (the others wait, then find nothing to do), and refuses a database written by a newer Blitz.
 *
 * @module
 */
import type { Sql } from "postgres";
import { MIGRATION_LOCK, MIGRATIONS } from "./_schema.ts";

/** Applies the migrations the database lacks; returns the versions applied. */
export async function migrate(
  sql: Sql,
  options: { where: string; now: () => string },
): Promise<number[]> {
  return await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx.unsafe(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at text)",
    );
    const [row] = await tx`SELECT max(version) AS v FROM schema_migrations`;
    const current = Number(row?.v ?? 0);
    if (current > MIGRATIONS.length) {
      throw new Error(
        `Cannot open store ${options.where}: its schema version ${current} is newer than this Blitz supports (${MIGRATIONS.length}); upgrade Blitz`,
      );
    }
    const applied: number[] = [];
    for (let version = current + 1; version <= MIGRATIONS.length; version++) {
      await tx.unsafe(MIGRATIONS[version - 1]!);
      await tx`INSERT INTO schema_migrations (version, applied_at) VALUES (${version}, ${options.now()})`;
      applied.push(version);
    }
    return applied;
  }) as number[];
}

/**
 * For a read-only session (`replay`): checks that the schema is exactly the one this Blitz migrates
 * to, without writing; a clear Error when it is older (no store yet, or not migrated) or newer.
 */
export async function checkSchema(
  sql: Sql,
  options: { where: string },
): Promise<void> {
  const [table] =
    await sql`SELECT to_regclass('schema_migrations') IS NOT NULL AS found`;
  const current = table?.found
    ? Number(
      (await sql`SELECT max(version) AS v FROM schema_migrations`)[0]?.v ?? 0,
    )
    : 0;
  if (current === MIGRATIONS.length) return;
  throw new Error(
    current > MIGRATIONS.length
      ? `Cannot open store ${options.where}: its schema version ${current} is newer than this Blitz supports (${MIGRATIONS.length}); upgrade Blitz`
      : `Cannot open store ${options.where} read-only: its schema version ${current} is older than this Blitz's (${MIGRATIONS.length}); run serve or ingest once to migrate it`,
  );
}
