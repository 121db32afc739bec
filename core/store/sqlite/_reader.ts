/**
 * A read-only view of a SQLite store file for tools that must change nothing (`replay`): its own
 * `readOnly` connection, no migration, no checkpoint at close; it sees what is committed, WAL included.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { alertSelect } from "./_list.ts";
import { toAlert } from "./_schema.ts";
import { toSilence } from "../records.ts";
import type { AlertQuery, AlertRecord, Silence } from "../store.ts";

/** Read-only access to the alerts of a store file. */
export interface StoreReader {
  getAlert(id: string): AlertRecord | undefined;
  /** Newest first, as `Store.listAlerts`. */
  listAlerts(query?: AlertQuery): AlertRecord[];
  /**
   * Raw rows of a store table in insertion order (`store copy`): at most `limit` rows after position
   * `after`, each with its position (`at`, the rowid) and its columns as stored.
   */
  rows(
    table: string,
    options: { after: number; limit: number },
  ): { at: number; row: Record<string, unknown> }[];
  /** Rows in a store table. */
  count(table: string): number;
  /** Storm control: the fingerprint definitions with windows, per detector (none on an older store). */
  stormDefinitions(): {
    detector: string;
    definition: string;
    paths: string[];
  }[];
  /**
   * Storm control's operator input (`replay`): every silence, oldest first, and the acks in effect
   * (none on an older store).
   */
  stormInput(): {
    silences: Silence[];
    acks: { fingerprint: string; acked_by: string; acked_at: string }[];
  };
  close(): void;
}

/** Opens `path` read-only; throws a clear Error when there is no store there. */
export function openSqliteReader(path: string): StoreReader {
  try {
    Deno.statSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new Error(`No store at "${path}" (is data_dir right?)`, {
        cause: err,
      });
    }
    throw err;
  }
  const db = new DatabaseSync(path, { readOnly: true });
  db.exec("PRAGMA busy_timeout = 5000");
  return {
    getAlert(id) {
      const row = db.prepare("SELECT * FROM alerts WHERE id = ?").get(id);
      return row ? toAlert(row) : undefined;
    },
    listAlerts(query = {}) {
      const { sql, params } = alertSelect(query);
      return db.prepare(sql).all(params).map(toAlert);
    },
    rows(table, { after, limit }) {
      const name = storeTable(table);
      return db.prepare(
        `SELECT rowid AS "__at", * FROM ${name} WHERE rowid > ? ORDER BY rowid LIMIT ?`,
      ).all(after, limit).map(({ __at, ...row }) => ({
        at: Number(__at),
        row,
      }));
    },
    count(table) {
      const name = storeTable(table);
      return Number(db.prepare(`SELECT count(*) AS n FROM ${name}`).get()?.n);
    },
    stormDefinitions() {
      try {
        return db.prepare(
          "SELECT detector, definition, min(paths) AS paths FROM storm_windows GROUP BY detector, definition",
        ).all().map((row) => ({
          detector: row.detector as string,
          definition: row.definition as string,
          paths: JSON.parse(row.paths as string) as string[],
        }));
      } catch {
        return []; // a store from before storm control
      }
    },
    stormInput() {
      try {
        return {
          silences: db.prepare(
            "SELECT * FROM silences ORDER BY created_at, id",
          ).all().map(toSilence),
          acks: db.prepare(
            `SELECT fingerprint, acked_by, acked_at FROM storm_windows WHERE acked_at IS NOT NULL
            ORDER BY acked_at, fingerprint`,
          ).all().map((row) => ({
            fingerprint: row.fingerprint as string,
            acked_by: (row.acked_by as string | null) ?? "",
            acked_at: row.acked_at as string,
          })),
        };
      } catch {
        return { silences: [], acks: [] }; // a store from before storm control
      }
    },
    close() {
      db.close();
    },
  };
}

const TABLES = [
  "alerts",
  "action_runs",
  "channel_deliveries",
  "storm_windows",
  "storm_timers",
  "silences",
  "storm_breaker",
  "storm_groups",
  "redeliveries",
];

/** `table` when it is one of the store's tables (names are never taken from input into SQL otherwise). */
function storeTable(table: string): string {
  if (!TABLES.includes(table)) {
    throw new RangeError(`Unknown store table "${table}"`);
  }
  return table;
}
