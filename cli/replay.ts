/**
 * `blitz replay --config <path> [--since 24h | --ids a,b] [--detector d] [--live] [--fail-on changed]
 * [--json] [--html <dir>]`: stored alerts through a changed config (core/replay/replay.ts), reported per
 * alert. Reads the store read-only; composes on a scratch in-memory store; sends nothing.
 *
 * @module
 */
import {
  type CliArgs,
  type Command,
  CONFIG_OPTION,
  type Options,
} from "./command.ts";
import { InputError } from "../core/errors.ts";
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
import { closeRuntime, createRuntime } from "../core/service/runtime.ts";
import {
  openSqliteReader,
  openSqliteStore,
  type StoreReader,
} from "../core/store/sqlite/sqlite.ts";
import type { AlertRecord } from "../core/store/store.ts";

const USAGE =
  `Usage: blitz replay --config <path> [--since 24h | --ids a,b] [--detector d] [--live] [--fail-on changed] [--json] [--html <dir>]

Re-runs stored alerts through the config at <path> (a changed copy of the running one, same data_dir)
in alert-time order and shows what would differ from what was recorded: whether the email goes out,
subject, recipients, matched condition block, enrichments, send actions, reply buttons and their steps.
Offline by default: enrichments are the results stored with each alert (exact, repeatable); --live
queries them again. Sends nothing, runs nothing with side effects, writes nothing to the store.

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

/** The alerts to replay: by id, or received since the cutoff (newest-first pages, then all of them). */
function select(
  reader: StoreReader,
  options: ReplayArgs,
  now: Date,
): AlertRecord[] {
  let records: AlertRecord[];
  if (options.ids) {
    records = options.ids.map((id) => {
      const record = reader.getAlert(id);
      if (!record) throw new InputError(`No alert "${id}" in the store`);
      return record;
    });
  } else {
    const cutoff = new Date(now.getTime() - options.since!).toISOString();
    records = [];
    // Keyset pages on (received_at, id): alerts that share a received_at across a page boundary
    // are neither skipped nor read twice.
    let cursor: { before: string; before_id: string } | undefined;
    for (;;) {
      const page = reader.listAlerts({
        limit: 500,
        ...(options.detector ? { detector: options.detector } : {}),
        ...cursor,
      });
      const recent = page.filter((r) => r.received_at >= cutoff);
      records.push(...recent);
      if (page.length < 500 || recent.length < page.length) break;
      const last = page[page.length - 1]!;
      cursor = { before: last.received_at, before_id: last.id };
    }
  }
  return records.filter((r) =>
    REPLAYABLE.has(r.status) &&
    (options.detector === undefined || r.detector === options.detector)
  );
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
    if (runtime.config.global.store.backend === "postgres") {
      await closeRuntime(runtime);
      throw new InputError(
        `${runtime.config.file}: store.backend: replay reads the SQLite store file (data_dir/blitz.db); on PostgreSQL it is not supported yet`,
      );
    }
    const storePath = join(runtime.config.global.data_dir, "blitz.db");
    let reader: StoreReader;
    try {
      reader = openSqliteReader(storePath);
    } catch (err) {
      await closeRuntime(runtime);
      if (/^No store at/.test((err as Error).message)) {
        throw new InputError((err as Error).message);
      }
      throw err;
    }
    // Steps that keep state (storm control) keep it here, never in the real store.
    const scratch = openSqliteStore(":memory:");
    try {
      const records = select(reader, options, new Date());
      const report = await replayAlerts(
        { ...runtime, store: scratch },
        records,
        { live: options.live },
      );
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
          `replay: ${records.length} alert(s) from ${storePath} through ${runtime.config.file} (${mode})`,
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
      reader.close();
      await scratch.close();
      await closeRuntime(runtime);
    }
  },
};

export default command;
