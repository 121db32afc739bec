/**
 * `blitz replay --config <path> [--since 24h | --ids a,b] [--detector d] [--live] [--fail-on changed]
 * [--json] [--html <dir>]`: stored alerts through a changed config (core/replay/replay.ts), reported per
 * alert with storm control's emails counted before and after. Reads the store read-only (the SQLite
 * file, or PostgreSQL with read-only sessions); storm control replays on a scratch store; sends nothing.
 *
 * @module
 */
import {
  type CliArgs,
  type Command,
  CONFIG_OPTION,
  type Options,
} from "./command.ts";
import { errorMessage, InputError } from "../core/errors.ts";
import { parseDuration } from "../core/duration.ts";
import { silentLogger } from "../core/log.ts";
import { join, resolve } from "../core/paths.ts";
import {
  alertPage,
  indexPage,
  REPLAYABLE,
  replayAlerts,
  textReport,
} from "../core/replay/replay.ts";
import {
  readerSource,
  type ReplaySource,
  selectAlerts,
  storeSource,
} from "../core/replay/source.ts";
import type { Runtime } from "../core/pipeline/pipeline.ts";
import { importLazy } from "../core/lazy.ts";
import { closeRuntime, createRuntime } from "../core/service/runtime.ts";
import {
  openSqliteReader,
  type StoreReader,
} from "../core/store/sqlite/sqlite.ts";

const USAGE =
  `Usage: blitz replay --config <path> [--since 24h | --ids a,b] [--detector d] [--live] [--fail-on changed] [--json] [--html <dir>]

Re-runs stored alerts through the config at <path> (a changed copy of the running one, same data_dir
or store) in alert-time order and shows what would differ from what was recorded: whether the email
goes out, subject, recipients, matched condition block, enrichments, send actions, reply buttons and
their steps, and storm control's decision (notify, or suppressed by realert, group, silence, ack or
breaker, with the alert whose email covers it). Storm control replays on a scratch state with its
timers (digests, grouped emails, silence ends, breaker notices) run in due order, using the silences
and acks recorded in the store, so the summary's "12 emails and 3 digests instead of 140" is exact.
Offline by default: enrichments are the results stored with each alert (exact, repeatable); --live
queries them again. Sends nothing, runs nothing with side effects, writes nothing to the store
(SQLite: read-only file; PostgreSQL: read-only sessions).

  --since <duration>   alerts received in the last <duration> (default 24h)
  --ids a,b            these alerts instead
  --detector <name>    only this detector's alerts
  --live               query enrichments again
  --fail-on changed    exit 1 when any alert differs (for CI)
  --json               one JSON document {summary, alerts} instead of text
  --html <dir>         also write <dir>/index.html and one page per alert with both emails side by side

exit: 0 replayed, 1 changed (with --fail-on changed), 2 bad input or config`;

const OPTIONS: Options = {
  ...CONFIG_OPTION,
  since: {
    type: "string",
    description: "alerts received in the last <duration>",
  },
  ids: { type: "string", description: "these alerts instead" },
  detector: { type: "string", description: "only this detector's alerts" },
  live: { type: "boolean", description: "query enrichments again" },
  "fail-on": { type: "string", description: "exit 1 when any alert differs" },
  json: { type: "boolean", description: "one JSON document instead of text" },
  html: { type: "string", description: "also write HTML pages to <dir>" },
};

/** The options of one run, checked. */
interface ReplayArgs {
  since?: number;
  ids?: string[];
  detector?: string;
  live: boolean;
  failOnChanged: boolean;
  json: boolean;
  html?: string;
}

function optionsOf(args: CliArgs): ReplayArgs {
  const flags = args.flags;
  const text = (name: string): string | undefined => {
    const value = flags[name];
    return typeof value === "string" ? value : undefined;
  };
  const bool = (name: string): boolean => flags[name] === true;
  const out: ReplayArgs = {
    live: bool("live"),
    json: bool("json"),
    failOnChanged: false,
  };
  const failOn = text("fail-on");
  if (failOn !== undefined) {
    if (failOn !== "changed") {
      throw new InputError(
        `--fail-on "${failOn}": the only value is "changed"`,
      );
    }
    out.failOnChanged = true;
  }
  const since = text("since");
  const ids = text("ids");
  if (since !== undefined && ids !== undefined) {
    throw new InputError("Use --since or --ids, not both");
  }
  if (ids !== undefined) {
    out.ids = ids.split(",").map((s) => s.trim()).filter(Boolean);
    if (!out.ids.length) {
      throw new InputError("--ids needs alert ids: --ids a,b");
    }
  } else {
    try {
      out.since = parseDuration(since ?? "24h");
    } catch (err) {
      throw new InputError(`--since: ${(err as Error).message}`);
    }
  }
  const detector = text("detector");
  if (detector !== undefined) out.detector = detector;
  const html = text("html");
  if (html !== undefined) out.html = html;
  return out;
}

const command: Command = {
  usage: USAGE,
  options: OPTIONS,
  positionals: [],
  async run(args: CliArgs): Promise<number> {
    const options = optionsOf(args);
    if (args.config === undefined) {
      throw new InputError("replay needs the changed config: --config <path>");
    }
    const runtime = await createRuntime({
      configPath: args.config,
      log: silentLogger,
      io: false,
    });
    let opened: { source: ReplaySource; where: string; close(): Promise<void> };
    try {
      opened = await openSource(runtime);
    } catch (err) {
      await closeRuntime(runtime);
      throw err;
    }
    try {
      const now = new Date();
      const records = await selectAlerts(opened.source, {
        ...(options.ids ? { ids: options.ids } : {}),
        ...(options.since !== undefined ? { since: options.since } : {}),
        ...(options.detector ? { detector: options.detector } : {}),
        statuses: REPLAYABLE,
      }, now);
      const report = await replayAlerts(runtime, records, {
        live: options.live,
        operator: await opened.source.operatorInput(),
        end: now,
      });
      if (options.json) {
        console.log(JSON.stringify({
          summary: report.summary,
          alerts: report.alerts.map(({ before, after, ...rest }) => ({
            ...rest,
            before: { ...before, message: undefined },
            after: { ...after, message: undefined },
          })),
        }));
      } else {
        const mode = options.live
          ? "live: enrichments queried again"
          : "offline: stored enrichment results";
        await Deno.stdout.write(new TextEncoder().encode(textReport(
          report,
          `replay: ${records.length} alert(s) from ${opened.where} through ${runtime.config.file} (${mode})`,
        )));
      }
      if (options.html) {
        const dir = resolve(options.html);
        await Deno.mkdir(dir, { recursive: true });
        await Deno.writeTextFile(join(dir, "index.html"), indexPage(report));
        for (const alert of report.alerts) {
          await Deno.writeTextFile(
            join(dir, `${alert.id}.html`),
            alertPage(alert),
          );
        }
      }
      return options.failOnChanged && report.summary.changed > 0 ? 1 : 0;
    } finally {
      await opened.close();
      await closeRuntime(runtime);
    }
  },
};

/**
 * The real store, read-only: the SQLite file through its read-only reader, or PostgreSQL with
 * read-only sessions (a write would fail; no migration, no heartbeat).
 */
async function openSource(runtime: Runtime): Promise<{
  source: ReplaySource;
  where: string;
  close(): Promise<void>;
}> {
  const { store } = runtime.config.global;
  if (store.backend === "postgres") {
    const { openPostgresStore } = await importLazy<
      typeof import("../core/store/postgres/postgres.ts")
    >("core/store/postgres/postgres.ts");
    let pg: Awaited<ReturnType<typeof openPostgresStore>>;
    try {
      pg = await openPostgresStore(store.url!, { readOnly: true, max: 2 });
    } catch (err) {
      // Unreachable, or a schema older or newer than this Blitz's: say which store, no stack.
      throw new InputError(
        `${runtime.config.file}: store.url: ${errorMessage(err)}`,
      );
    }
    return {
      source: storeSource(pg, () => new Date()),
      where: pg.where,
      close: () => pg.close(),
    };
  }
  const path = join(runtime.config.global.data_dir, "blitz.db");
  let reader: StoreReader;
  try {
    reader = openSqliteReader(path);
  } catch (err) {
    if (/^No store at/.test((err as Error).message)) {
      throw new InputError((err as Error).message);
    }
    throw err;
  }
  return {
    source: readerSource(reader),
    where: path,
    close: () => Promise.resolve(reader.close()),
  };
}

export default command;
