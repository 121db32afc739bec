/**
 * `blitz store copy --from <sqlite file or postgres url> --to <postgres url>`: moves a store to a
 * shared PostgreSQL (the upgrade from one host to several instances; `core/store/copy.ts`). Idempotent:
 * run it again to pick up what was added since, nothing is copied twice. Ends with a count check per
 * table. Reads no config: both ends are given (usually `--to "$BLITZ_DATABASE_URL"`).
 *
 * @module
 */
import type { CliArgs, Command } from "./command.ts";
import { InputError } from "../core/errors.ts";
import { didYouMean } from "../core/suggest.ts";
import { copyStore } from "../core/store/copy.ts";
import { redactUrl } from "../core/store/postgres/postgres.ts";

const USAGE =
  `Usage: blitz store copy --from <sqlite file | postgres url> --to <postgres url>

Copies every alert, action run, channel delivery, and storm control's windows, timers, silences,
breaker and groups from the source to
the PostgreSQL store at --to (migrating it first). Idempotent: rows already there are left as they
are, so it can be run again after an interruption, or once more after the last SQLite instance
stopped, to pick up what came in since. Ends with a count check of every table.

stdout: one line per table: "<table>: <n> in source, <c> copied, <p> already there, <d> in destination"
exit:   0 copied and checked, 1 count check failed, 2 bad input`;

const SUBCOMMANDS = ["copy"];

const command: Command = {
  usage: USAGE,
  options: {
    from: {
      type: "string",
      description: "the SQLite store file (data/blitz.db) or a postgres:// URL",
    },
    to: {
      type: "string",
      description: "the PostgreSQL store's postgres:// URL",
    },
  },
  positionals: ["subcommand"],
  async run(args: CliArgs): Promise<number> {
    const [sub] = args.positional;
    if (sub !== "copy") {
      throw new InputError(
        sub === undefined
          ? "Missing subcommand: blitz store copy --from <file|url> --to <url>"
          : `Unknown subcommand "${sub}"${didYouMean(sub, SUBCOMMANDS)}`,
      );
    }
    const from = args.flags.from;
    const to = args.flags.to;
    if (typeof from !== "string" || from === "") {
      throw new InputError("Missing --from <sqlite file | postgres url>");
    }
    if (typeof to !== "string" || to === "") {
      throw new InputError("Missing --to <postgres url>");
    }
    if (!/^postgres(ql)?:\/\//.test(to)) {
      throw new InputError(
        `--to must be a postgres:// URL, not "${redactUrl(to)}"`,
      );
    }
    try {
      const copies = await copyStore({ from, to });
      for (const c of copies) {
        console.log(
          `${c.table}: ${c.source} in source, ${c.copied} copied, ${c.present} already there, ${c.destination} in destination`,
        );
      }
      console.log(`store copy: ${redactUrl(from)} → ${redactUrl(to)}: checked`);
      return 0;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (message.startsWith("Count check failed")) {
        console.error(`error: ${message}`);
        return 1;
      }
      if (/^No store at/.test(message)) throw new InputError(message);
      throw err;
    }
  },
};

export default command;
