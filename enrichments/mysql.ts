/**
 * `mysql` (the original's `get_data_from_db`): runs a configured, parameterised query against a
 * database from `databases: {name: url}` and returns the rows.
 *
 * Values come from the alert and are bound to `?` placeholders as a server-side prepared statement:
 * the SQL text is never built from alert data. Pools are kept per database URL for the process's life.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import mysql from "mysql2/promise";
import {
  closest,
  defineEnrichment,
  type Json,
  lookup,
} from "../core/plugin.ts";

const Params = z.object({
  database: z.string().min(1).optional(),
  query: z.string().min(1).optional(),
  params: z.array(z.string().min(1)).optional(),
  timeout_ms: z.number().int().min(1).max(600_000).optional(),
  max_rows: z.number().int().min(1).max(10_000).default(100),
});

/** Params of the `mysql` enrichment (its `e_args`). */
export type MysqlParams = z.output<typeof Params>;

const Settings = z.looseObject({
  databases: z.record(z.string(), z.string()).default({}),
  connection_limit: z.number().int().min(1).max(64).default(4),
  query_timeout_ms: z.number().int().min(1).max(600_000).default(4_000),
});

/** What the `mysql` enrichment returns. */
export interface MysqlResult {
  rows: Record<string, Json>[];
  /** Rows the query returned (before `max_rows`). */
  row_count: number;
  truncated: boolean;
}

const pools = new Map<string, mysql.Pool>();
const pendingKills = new Set<Promise<unknown>>();

/** Ends every cached pool (tests and shutdown). */
export async function closeMysqlPools(): Promise<void> {
  await Promise.allSettled([...pendingKills]);
  const all = [...pools.values()];
  pools.clear();
  await Promise.allSettled(all.map((pool) => pool.end()));
}

/** Number of cached pools (for tests of pool reuse). */
export function mysqlPoolCount(): number {
  return pools.size;
}

export default defineEnrichment<MysqlParams>({
  name: "mysql",
  aliases: ["get_data_from_db"],
  params: Params,
  // The query is SQL text from config: never fill {key} placeholders into it; values bind to `?`.
  fillArgs: false,
  permissions: { net: true },
  reads: { global: ["databases"] }, // named connection URLs: `db` picks one
  timeoutMs: 5_000,
  check: (args, { settings }) => {
    const problems: { path: string; message: string }[] = [];
    if (typeof args.query !== "string" || args.query.trim() === "") {
      problems.push({
        path: "query",
        message:
          'required: the SQL to run, in config (the original get_data_from_db took it from code), with ? for alert values, e.g. "SELECT owner FROM assets WHERE ip = ?" and e_key: src_ip',
      });
    }
    const databases = Object.keys(
      (settings.databases ?? {}) as Record<string, unknown>,
    );
    const known = `configured in the global databases: ${
      databases.length ? databases.join(", ") : "none"
    }`;
    if (typeof args.database === "string") {
      if (!databases.includes(args.database)) {
        problems.push({
          path: "database",
          message: `unknown database "${args.database}"${
            hint(closest(args.database, databases))
          } (${known})`,
        });
      }
    } else if (databases.length !== 1) {
      problems.push({
        path: "database",
        message: `required when the global config has ${
          databases.length ? "several databases" : "no databases"
        } (${known})`,
      });
    }
    return problems;
  },
  async run(params, ctx) {
    if (!params.query) throw new TypeError("mysql needs e_args.query");
    const settings = Settings.parse(ctx.settings);
    const name = params.database ?? soleDatabase(settings.databases);
    const url = settings.databases[name];
    if (url === undefined) {
      const known = Object.keys(settings.databases);
      throw new RangeError(
        `Unknown database "${name}": configured ${
          known.length ? known.map((k) => `"${k}"`).join(", ") : "none"
        }`,
      );
    }
    const values = params.params
      ? params.params.map((key, i) =>
        bindable(lookup(ctx.alert, key), `"${key}" (param ${i + 1})`)
      )
      : ctx.args.map((value, i) => bindable(value, `e_key value ${i + 1}`));
    const timeoutMs = params.timeout_ms ?? settings.query_timeout_ms;
    const pool = poolFor(url, settings.connection_limit);
    let rows: unknown;
    try {
      rows = await runQuery(pool, {
        sql: params.query,
        values,
        timeoutMs,
        signal: ctx.signal,
      });
    } catch (err) {
      if (ctx.signal.aborted && err === ctx.signal.reason) throw err;
      throw new Error(
        `Cannot query database "${name}": ${hideSecrets(describe(err), url)}`,
      );
    }
    if (!Array.isArray(rows)) {
      throw new TypeError(
        `Query on database "${name}" returned no rows: use a SELECT statement`,
      );
    }
    return {
      rows: rows.slice(0, params.max_rows).map(toRow),
      row_count: rows.length,
      truncated: rows.length > params.max_rows,
    } satisfies MysqlResult;
  },
});

function hint(best: string | undefined): string {
  return best === undefined ? "" : `; did you mean "${best}"?`;
}

function soleDatabase(databases: Record<string, string>): string {
  const names = Object.keys(databases);
  if (names.length === 1) return names[0]!;
  throw new TypeError(
    "mysql needs e_args.database when several or no databases are configured",
  );
}

type Bindable = string | number | boolean | null;

function bindable(value: unknown, what: string): Bindable {
  if (value === undefined) {
    throw new TypeError(`Alert has no value for ${what}`);
  }
  if (
    value === null || typeof value === "string" || typeof value === "boolean"
  ) return value;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) {
      throw new RangeError(`Alert value for ${what} is not a finite number`);
    }
    return value;
  }
  if (typeof value === "bigint") return value.toString();
  return JSON.stringify(value);
}

function poolFor(url: string, connectionLimit: number): mysql.Pool {
  const key = createHash("sha256").update(`${connectionLimit}\n${url}`).digest(
    "hex",
  );
  let pool = pools.get(key);
  if (!pool) {
    pool = mysql.createPool({
      uri: url,
      connectionLimit,
      maxIdle: connectionLimit,
      idleTimeout: 60_000,
      connectTimeout: 5_000,
      enableKeepAlive: true,
      dateStrings: true,
      supportBigNumbers: true,
      multipleStatements: false,
    });
    // Defence in depth: an enrichment reads. A read-only database account is the real control.
    pool.pool.on("connection", (conn) => {
      conn.query("SET SESSION TRANSACTION READ ONLY", () => {});
    });
    pools.set(key, pool);
  }
  return pool;
}

/** Runs one prepared statement on a pooled connection; a timeout or abort kills the query and drops the connection. */
async function runQuery(
  pool: mysql.Pool,
  options: {
    sql: string;
    values: Bindable[];
    timeoutMs: number;
    signal: AbortSignal;
  },
): Promise<unknown> {
  const { signal } = options;
  signal.throwIfAborted();
  const conn = await abortable(
    pool.getConnection(),
    signal,
    (late) => late.release(),
  );
  let broken = false;
  const drop = () => {
    if (broken) return;
    broken = true;
    killQuery(pool, conn.threadId);
    conn.destroy();
  };
  signal.addEventListener("abort", drop, { once: true });
  try {
    const [rows] = await abortable(
      conn.execute(
        { sql: options.sql, timeout: options.timeoutMs },
        options.values,
      ),
      signal,
    );
    return rows;
  } catch (err) {
    if ((err as { code?: unknown })?.code === "PROTOCOL_SEQUENCE_TIMEOUT") {
      drop();
      throw new Error(`query timed out after ${options.timeoutMs} ms`);
    }
    if ((err as { fatal?: unknown })?.fatal) drop();
    throw err;
  } finally {
    signal.removeEventListener("abort", drop);
    if (!broken) conn.release();
  }
}

/** Stops a still-running statement on the server (closing the socket alone does not). */
function killQuery(pool: mysql.Pool, threadId: number | null): void {
  if (threadId === null || !Number.isSafeInteger(threadId)) return;
  const kill = pool.query({ sql: `KILL QUERY ${threadId}`, timeout: 2_000 })
    .catch(() => {});
  pendingKills.add(kill);
  kill.finally(() => pendingKills.delete(kill));
}

/** Settles with `promise`, or rejects with the signal's reason on abort; `onLate` gets a value that arrives too late. */
function abortable<T>(
  promise: Promise<T>,
  signal: AbortSignal,
  onLate?: (value: T) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        if (signal.aborted) onLate?.(value);
        else resolve(value);
      },
      (err) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  const message = err.message || err.name;
  return typeof code === "string" && !message.includes(code)
    ? `${message} (${code})`
    : message;
}

/** Removes the database URL and its password from a message. */
function hideSecrets(message: string, url: string): string {
  const secrets = [url];
  try {
    const parsed = new URL(url);
    if (parsed.password) {
      secrets.push(parsed.password, decodeURIComponent(parsed.password));
    }
  } catch {
    // not a URL: the whole string is hidden already
  }
  for (
    const secret of secrets.filter((s) => s.length > 0).sort((a, b) =>
      b.length - a.length
    )
  ) {
    message = message.split(secret).join("[redacted]");
  }
  return message;
}

function toRow(row: unknown): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [key, value] of Object.entries(row as Record<string, unknown>)) {
    out[key] = toJson(value);
  }
  return out;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function toJson(value: unknown): Json {
  if (value === null || value === undefined) return null;
  if (typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") {
    return Number.isFinite(value) ? value : String(value);
  }
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Date) {
    return Number.isNaN(value.getTime()) ? null : value.toISOString();
  }
  if (value instanceof Uint8Array) {
    try {
      return utf8.decode(value);
    } catch {
      return `0x${
        Array.from(value, (b) => b.toString(16).padStart(2, "0")).join("")
      }`;
    }
  }
  if (Array.isArray(value)) return value.map(toJson);
  if (typeof value === "object") {
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(value)) out[k] = toJson(v);
    return out;
  }
  return String(value);
}
