/**
 * `store copy`: the move from one host's SQLite store (or another PostgreSQL) to a shared PostgreSQL
 * store. Every table is copied in order, in batches, each batch one transaction of
 * `INSERT … ON CONFLICT DO NOTHING`: running it again (after an interruption, or to pick up what a
 * still-running SQLite instance added) copies only what is missing and changes nothing already there.
 * At the end every table's rows are counted on both sides; a destination with fewer rows than the
 * source fails the copy.
 *
 * @module
 */
import type { Sql } from "postgres";
import { openSqliteReader } from "./sqlite/sqlite.ts";
import { openPostgresStore, redactUrl } from "./postgres/postgres.ts";

/** The tables copied, parents first, with the key that makes a row "already there". */
export const COPY_TABLES = [
  { table: "alerts", key: ["id"] },
  { table: "action_runs", key: ["nonce"] },
  { table: "channel_deliveries", key: ["alert_id", "channel", "event"] },
  { table: "storm_windows", key: ["fingerprint"] },
  { table: "storm_timers", key: ["id"] },
  { table: "silences", key: ["id"] },
  { table: "storm_breaker", key: ["detector"] },
  { table: "storm_groups", key: ["group_key"] },
  { table: "redeliveries", key: ["id"] },
] as const;

/** What one table's copy did. */
export interface TableCopy {
  table: string;
  source: number;
  copied: number;
  /** Rows of the source the destination already had (an earlier run). */
  present: number;
  destination: number;
}

/** Where rows come from: a SQLite file, or a PostgreSQL database. */
interface Source {
  /** Rows of `table` after position `after` (in insertion order), at most `limit`, with their positions. */
  rows(
    table: string,
    after: number,
    limit: number,
  ): Promise<{ at: number; row: Record<string, unknown> }[]>;
  count(table: string): Promise<number>;
  close(): Promise<void>;
}

/** Options of {@link copyStore}. */
export interface CopyOptions {
  /** A SQLite store file, or a `postgres://` URL. */
  from: string;
  /** The destination's `postgres://` URL (migrated first). */
  to: string;
  /** Rows per transaction. @default 500 */
  batch?: number;
  /** Called after each batch, for progress lines. */
  progress?: (table: string, copied: number) => void;
}

/** Copies `from` into `to`; returns each table's counts. Throws when a count check fails. */
export async function copyStore(options: CopyOptions): Promise<TableCopy[]> {
  if (!/^postgres(ql)?:\/\//.test(options.to)) {
    throw new TypeError(
      `--to must be a postgres:// URL, not "${redactUrl(options.to)}"`,
    );
  }
  const source = await openSource(options.from);
  const destination = await openPostgresStore(options.to);
  const batch = options.batch ?? 500;
  const copies: TableCopy[] = [];
  try {
    for (const { table, key } of COPY_TABLES) {
      const columns = await columnsOf(destination.sql, table);
      let after = -1;
      let copied = 0;
      let present = 0;
      for (;;) {
        const rows = await source.rows(table, after, batch);
        if (rows.length === 0) break;
        after = rows[rows.length - 1]!.at;
        const names = columns.filter((c) => c in rows[0]!.row);
        const params: unknown[] = [];
        const tuples = rows.map(({ row }) =>
          `(${names.map((c) => `$${params.push(row[c] ?? null)}`).join(", ")})`
        );
        const inserted = await destination.sql.unsafe(
          `INSERT INTO ${table} (${names.join(", ")}) VALUES ${
            tuples.join(", ")
          } ON CONFLICT (${key.join(", ")}) DO NOTHING RETURNING 1`,
          params as (string | number | null)[],
        );
        copied += inserted.length;
        present += rows.length - inserted.length;
        options.progress?.(table, copied + present);
      }
      const [{ n } = { n: 0 }] = await destination.sql.unsafe(
        `SELECT count(*) AS n FROM ${table}`,
      );
      const count = await source.count(table);
      copies.push({
        table,
        source: count,
        copied,
        present,
        destination: Number(n),
      });
    }
  } finally {
    await source.close();
    await destination.close();
  }
  const short = copies.filter((c) =>
    c.destination < c.source || c.copied + c.present !== c.source
  );
  if (short.length > 0) {
    throw new Error(
      `Count check failed: ${
        short.map((c) =>
          `${c.table}: ${c.source} in the source, ${
            c.copied + c.present
          } read, ${c.destination} in the destination`
        ).join("; ")
      } (the source changed during the copy? run it again)`,
    );
  }
  return copies;
}

/** The destination table's columns a copy fills (its own sequence `seq` and lease owner stay its own). */
async function columnsOf(sql: Sql, table: string): Promise<string[]> {
  const rows = await sql.unsafe(
    `SELECT column_name FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`,
    [table],
  );
  return rows.map((r) => String(r.column_name)).filter((c) =>
    c !== "seq" && c !== "lease_owner" && c !== "owner"
  );
}

async function openSource(from: string): Promise<Source> {
  if (/^postgres(ql)?:\/\//.test(from)) {
    const store = await openPostgresStore(from);
    return {
      async rows(table, after, limit) {
        const order = COPY_TABLES.find((t) => t.table === table)!.key
          .join(", ");
        // Ordered by each table's key and paged by row number.
        const rows = await store.sql.unsafe(
          `SELECT * FROM ${table} ORDER BY ${order} OFFSET $1 LIMIT $2`,
          [after + 1, limit],
        );
        return rows.map((row, i) => ({ at: after + 1 + i, row }));
      },
      async count(table) {
        const [row] = await store.sql.unsafe(
          `SELECT count(*) AS n FROM ${table}`,
        );
        return Number(row?.n ?? 0);
      },
      close: () => store.close(),
    };
  }
  const path = from.replace(/^(sqlite|file):(\/\/)?/, "");
  const reader = openSqliteReader(path);
  return {
    rows: (table, after, limit) =>
      Promise.resolve(reader.rows(table, { after, limit })),
    count: (table) => Promise.resolve(reader.count(table)),
    close: () => Promise.resolve(reader.close()),
  };
}
