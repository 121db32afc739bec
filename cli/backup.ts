/**
 * `blitz backup <file> [--config <path>]`: an online, consistent copy of the SQLite store
 * (`<data_dir>/blitz.db`) while `serve` keeps running; restore by stopping Blitz and putting the copy in
 * place as `<data_dir>/blitz.db`. Reads only the global config's `data_dir` and `store` (no detector
 * or secret is needed to back up). On PostgreSQL it says to use `pg_dump`.
 *
 * @module
 */
import { type CliArgs, type Command, CONFIG_OPTION } from "./command.ts";
import { ConfigError, InputError } from "../core/errors.ts";
import { configPath } from "../core/config/config.ts";
import { yamlParser } from "../core/config/yaml.ts";
import { dirname, isAbsolute, join, resolve } from "../core/paths.ts";
import { substituteEnv } from "../core/secrets.ts";
import { backupSqliteFile } from "../core/store/sqlite/sqlite.ts";

const USAGE = `Usage: blitz backup <file> [--config <path>]

Writes an online, consistent copy of the SQLite store (<data_dir>/blitz.db) to <file>, which must not
exist, while serve keeps running; the copy is checked (integrity_check) before it is put in place.
Restore: stop Blitz, copy the file to <data_dir>/blitz.db (remove blitz.db-wal and blitz.db-shm), start.
With store.backend: postgres, use pg_dump instead.

stdout: "backup: <file>: <n> alerts, <m> action runs, <bytes> bytes"
exit:   0 written, 2 bad input, config or backend`;

/** The global config's `data_dir` (absolute) and `store.backend`, `${env:}` resolved. */
async function storeOf(
  path: string | undefined,
): Promise<{ file: string; dataDir: string; backend: string }> {
  const file = configPath(path, (name) => Deno.env.get(name));
  let raw: Record<string, unknown>;
  try {
    const parse = await yamlParser();
    raw = (parse(await Deno.readTextFile(file)) ?? {}) as Record<
      string,
      unknown
    >;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new ConfigError([
        `${file}: (root): config file not found (use --config <path> or BLITZ_CONFIG)`,
      ]);
    }
    throw err;
  }
  const problems: string[] = [];
  const picked = substituteEnv({
    data_dir: raw.data_dir ?? "data",
    store: raw.store ?? {},
  }, {
    env: (name) => Deno.env.get(name),
    onMissing: (name, at) =>
      problems.push(`${file}: ${at}: environment variable ${name} is not set`),
  }) as { data_dir: unknown; store: { backend?: unknown } };
  if (problems.length) throw new ConfigError(problems);
  if (typeof picked.data_dir !== "string") {
    throw new ConfigError([`${file}: data_dir: must be a string`]);
  }
  const dataDir = isAbsolute(picked.data_dir)
    ? picked.data_dir
    : join(dirname(file), picked.data_dir);
  const backend = typeof picked.store?.backend === "string"
    ? picked.store.backend
    : "sqlite";
  return { file, dataDir, backend };
}

const command: Command = {
  options: { ...CONFIG_OPTION },
  positionals: ["file"],
  usage: USAGE,
  async run(args: CliArgs): Promise<number> {
    const [target] = args.positional;
    if (!target) {
      throw new InputError("Missing backup file: blitz backup <file>");
    }
    const { file, dataDir, backend } = await storeOf(args.config);
    if (backend === "postgres") {
      console.error(
        `error: ${file}: store.backend: the store is PostgreSQL: back it up with pg_dump, e.g. ` +
          `pg_dump --format=custom --file=${
            JSON.stringify(target)
          } "$DATABASE_URL" (restore with pg_restore)`,
      );
      return 2;
    }
    if (backend !== "sqlite") {
      console.error(
        `error: ${file}: store.backend: backup copies the SQLite store only, not "${backend}"`,
      );
      return 2;
    }
    try {
      const report = await backupSqliteFile(
        join(dataDir, "blitz.db"),
        resolve(target),
      );
      console.log(
        `backup: ${report.target}: ${report.alerts} alerts, ${report.actionRuns} action runs, ${report.bytes} bytes`,
      );
      return 0;
    } catch (err) {
      if (
        err instanceof Error &&
        /^(No store at|".*" already exists)/.test(err.message)
      ) {
        throw new InputError(err.message);
      }
      throw err;
    }
  },
};

export default command;
