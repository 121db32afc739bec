/**
 * Blitz command line: `ingest`, `render`, `check`, `serve`. Each subcommand is imported only when it
 * runs, so `ingest` starts fast (one process per alert is how the original Blitz ran).
 *
 * @module
 */
import {
  ConfigError,
  errorMessage,
  InputError,
  isDiskFull,
} from "./core/errors.ts";
import { redact } from "./core/secrets.ts";
import { importLazy } from "./core/lazy.ts";
import { closest } from "./core/suggest.ts";
import { permissionHint } from "./core/permissions.ts";
import type { Command } from "./cli/command.ts";
import { parseCommandArgs } from "./cli/args.ts";
import denoJson from "./deno.json" with { type: "json" };

export type { CliArgs, Command } from "./cli/command.ts";

const commands: Record<string, () => Promise<{ default: Command }>> = {
  ingest: () => importLazy("cli/ingest.ts"),
  render: () => importLazy("cli/render.ts"),
  check: () => importLazy("cli/check.ts"),
  serve: () => importLazy("cli/serve.ts"),
  migrate: () => importLazy("cli/migrate.ts"),
  backup: () => importLazy("cli/backup.ts"),
  replay: () => importLazy("cli/replay.ts"),
  silence: () => importLazy("cli/silence.ts"),
  store: () => importLazy("cli/store.ts"),
  redeliver: () => importLazy("cli/redeliver.ts"),
};

const USAGE = `Blitz: incident-response alert automation

Usage: blitz <command> [options]

Commands:
  ingest <detector> [--config <path>] < alert.json   enrich, email and record one alert
  render <detector> [--config <path>] < alert.json   print the alert email's HTML, send nothing
  check [--config <path>]                            validate the config and every detector
  serve [--config <path>]                            run the HTTP ingest and action service
  migrate <mail_conf.py> [--out <dir>] [--dry-run]   convert the original Blitz's config
  backup <file> [--config <path>]                    online, consistent copy of the SQLite store
  replay --config <path> [--since 24h | --ids a,b]   stored alerts through a changed config: what differs
  silence add|list|expire                            timed silences of storm control
  store copy --from <file|url> --to <postgres url>   move the store to PostgreSQL (idempotent, checked)
  redeliver --ids a,b | --failed-since 1h           re-queue alerts whose delivery failed for good

Run "blitz <command> --help" for details; "blitz --version" prints the version. Config: --config, else BLITZ_CONFIG, else ./blitz.yaml`;

/** `blitz <version>`, from deno.json. */
export const VERSION = `blitz ${denoJson.version}`;

/** Deno's error for an npm package missing from node_modules (tasks run with --node-modules-dir=manual). */
const NOT_INSTALLED =
  /Could not find a matching package for 'npm:[^']+' in the node_modules directory/;

/** Prints `error: …` (every line of a config error) and returns the exit code for it. */
export function fail(err: unknown): number {
  if (err instanceof ConfigError) {
    for (const problem of err.problems) {
      console.error(redact(`error: ${problem}`));
    }
    return 2;
  }
  if (err instanceof InputError) {
    console.error(redact(`error: ${err.message}`));
    return 2;
  }
  if (err instanceof Error && err.name === "StoreDamagedError") {
    // Its message says what to do; a stack trace would only bury it.
    console.error(redact(`error: ${err.message}`));
    return 1;
  }
  if (isDiskFull(err)) {
    // Not a crash: say what happened and what to do, without a stack trace.
    console.error(
      redact(
        `error: the store's disk is full (${
          errorMessage(err)
        }): nothing of this run was recorded; free space on data_dir and run it again`,
      ),
    );
    return 1;
  }
  const denied = permissionHint(err);
  if (denied) {
    // A path outside the process's --allow-* lists is a config problem, not a crash.
    console.error(redact(`error: ${denied}`));
    return 2;
  }
  const message = err instanceof Error ? err.message : String(err);
  if (NOT_INSTALLED.test(message)) {
    // The runtime tasks run with --node-modules-dir=manual: they never install or fetch packages.
    console.error(
      "error: the npm dependencies are not installed in this checkout: run `deno install --frozen` here (once, and after every upgrade)",
    );
    return 2;
  }
  console.error(
    redact(
      `error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`,
    ),
  );
  return 1;
}

/** Runs the CLI and returns its exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(USAGE);
    return name ? 0 : 2;
  }
  if (name === "--version" || name === "version") {
    console.log(VERSION);
    return 0;
  }
  const load = commands[name];
  if (!load) {
    const best = closest(name, Object.keys(commands));
    const hint = best ? `; did you mean "${best}"?` : "";
    console.error(`error: unknown command "${name}"${hint}\n\n${USAGE}`);
    return 2;
  }
  try {
    const command = (await load()).default;
    const args = parseCommandArgs({
      command: name,
      options: command.options,
      positionals: command.positionals,
    }, rest);
    if (args.help) {
      console.log(command.usage);
      return 0;
    }
    if (args.version) {
      console.log(VERSION);
      return 0;
    }
    return await command.run(args);
  } catch (err) {
    return fail(err);
  }
}

if (import.meta.main) {
  // Exit explicitly: a sandboxed plugin stuck in a loop that never yields keeps its worker thread
  // alive even after terminate(), and must not keep a finished command running.
  Deno.exit(await main(Deno.args));
}
