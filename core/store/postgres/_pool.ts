/**
 * The PostgreSQL store's connection pools (npm `postgres`): options from `store.url` (`_url.ts`:
 * sslmode, sslrootcert), a bounded reconnect backoff, the session's `synchronous_commit`; which errors
 * mean "the database is away"; and this instance's owner id.
 *
 * @module
 */
import postgres, { type Sql } from "postgres";
import { connectionOf } from "./_url.ts";
import { guardClientFaults } from "./_guard.ts";

/** A pool on `url` whose sessions commit with `synchronous_commit` = `synchronous`. */
export function openPool(
  url: string,
  options: {
    synchronous: "on" | "off";
    max: number;
    connectTimeout: number;
    /** The sessions' application_name (seen in pg_stat_activity). */
    name: string;
    /** Every transaction read-only (`default_transaction_read_only`): a write fails. */
    readOnly?: boolean;
  },
): Sql {
  guardClientFaults();
  const connection = connectionOf(url);
  return postgres(connection.url, {
    ssl: connection.ssl,
    max: options.max,
    connect_timeout: options.connectTimeout,
    idle_timeout: 60,
    // Reconnect quickly while the database is away (the client's default grows to 20 s, and calls
    // wait for it): an ingest then answers 503 within a second instead of holding the sender.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
    onnotice: () => {},
    connection: {
      application_name: options.name,
      synchronous_commit: options.synchronous,
      ...(options.readOnly ? { default_transaction_read_only: true } : {}),
    },
  });
}

/** Whether `err` says the database could not be reached (as opposed to a bad statement). */
export function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== "string") return false;
  return [
    "ECONNREFUSED",
    "ECONNRESET",
    "ETIMEDOUT",
    "EPIPE",
    "CONNECTION_CLOSED",
    "CONNECTION_ENDED",
    "CONNECTION_DESTROYED",
    "CONNECT_TIMEOUT",
    "57P01", // admin_shutdown
    "57P02", // crash_shutdown
    "57P03", // cannot_connect_now
    "25006", // read_only_sql_transaction (a standby)
  ].includes(code) || code.startsWith("08");
}

/** This instance's name: host, process id and a random part (a restart is a new owner). */
export function defaultOwner(): string {
  let host = "blitz";
  try {
    host = Deno.hostname();
  } catch {
    // no --allow-sys=hostname
  }
  return `${host}:${Deno.pid}:${crypto.randomUUID().slice(0, 8)}`;
}

/** Thrown inside {@link canWrite}'s transaction to roll it back. */
class Rollback extends Error {}

/**
 * True when the database takes a write: a real one, rolled back (it fails on a read-only standby after
 * a failover, too). Throws what the database said when it does not.
 */
export async function canWrite(sql: Sql): Promise<boolean> {
  try {
    await sql.begin(async (tx) => {
      await tx.unsafe(
        "UPDATE schema_migrations SET applied_at = applied_at WHERE version = (SELECT max(version) FROM schema_migrations)",
      );
      throw new Rollback();
    });
  } catch (err) {
    if (err instanceof Rollback) return true;
    throw err;
  }
  return true;
}
