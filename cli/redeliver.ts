/**
 * `blitz redeliver [--ids a,b | --failed-since 1h] [--dry-run] [--actor <name>]` (issue 16): alerts
 * whose delivery failed for good (status `failed`, or a channel delivery `failed`) are put back in the
 * queue, their attempts reset, and `serve` delivers them (the stored email as it was; channels from
 * their outbox rows). Each redelivery is recorded with who and when (`--actor`, else the OS user);
 * two runs at once re-queue each alert once (`Store.redeliver`).
 *
 * @module
 */
import {
  type CliArgs,
  type Command,
  CONFIG_OPTION,
  type Options,
} from "./command.ts";
import { loadConfig } from "../core/config/config.ts";
import { parseDuration } from "../core/duration.ts";
import { InputError } from "../core/errors.ts";
import { headerSafe } from "../core/headers.ts";
import { openStore } from "../core/service/runtime.ts";
import type { Redelivery } from "../core/store/store.ts";

const USAGE =
  `Usage: blitz redeliver (--ids a,b | --failed-since <duration>) [--dry-run] [--actor <name>] [--config <path>]

Puts alerts whose delivery failed for good back in the queue: a "failed" alert's email (sent as it was
rendered, with its Message-ID) and its failed channel deliveries (Slack, Teams, webhooks, PagerDuty),
each with its attempts reset. A running "serve" delivers them within a second or two; without one,
the next start does. Each redelivery is recorded (who, when, the error before) and shown on the
alert's page. Running it twice, or twice at once, re-queues each failed delivery once.

  --ids a,b                these alerts
  --failed-since <dur>     every alert that failed (or has a channel delivery that failed) in the
                           last <duration>, e.g. 1h (at most 1000 per run)
  --dry-run                list what would be re-queued; change nothing
  --actor <name>           who redelivers, for the audit trail (default: the OS user)

stdout: one JSON line per alert re-queued {"alert_id","detector","email","channels","previous_attempts","previous_error"?}
exit:   0 done (also when nothing was failed), 2 bad input (an unknown id: nothing is re-queued) or config`;

const OPTIONS: Options = {
  ...CONFIG_OPTION,
  ids: { type: "string", description: "these alerts (comma-separated ids)" },
  "failed-since": {
    type: "string",
    description: "alerts that failed in the last <duration>",
  },
  "dry-run": { type: "boolean", description: "list, change nothing" },
  actor: { type: "string", description: "who redelivers (audit trail)" },
};

/** Who runs the command: `--actor`, else the user behind sudo, else the OS user. */
function actorOf(flag: string | undefined): string {
  if (flag !== undefined) {
    const name = flag.trim();
    if (!name || name.length > 200 || headerSafe(name) !== name) {
      throw new InputError(
        "--actor must be 1 to 200 characters without control characters",
      );
    }
    return name;
  }
  // Behind sudo (the installed launcher runs as the blitz user), the person is SUDO_USER.
  const sudo = Deno.env.get("SUDO_USER");
  if (sudo) return `${sudo} (sudo)`;
  return Deno.env.get("USER") ?? Deno.env.get("LOGNAME") ?? "unknown";
}

function text(args: CliArgs, flag: string): string | undefined {
  const value = args.flags[flag];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.trim() === "") {
    throw new InputError(`--${flag} needs a value`);
  }
  return value;
}

function line(r: Redelivery, dryRun: boolean): string {
  return JSON.stringify({
    alert_id: r.alert_id,
    detector: r.detector,
    email: r.email,
    channels: r.channels.map((c) =>
      c.event === "alert" ? c.channel : `${c.channel} (${c.event})`
    ),
    previous_attempts: r.previous_attempts,
    ...(r.previous_error !== undefined
      ? { previous_error: r.previous_error }
      : {}),
    ...(dryRun ? { dry_run: true } : {}),
  });
}

const command: Command = {
  usage: USAGE,
  options: OPTIONS,
  positionals: [],
  async run(args: CliArgs): Promise<number> {
    const idsText = text(args, "ids");
    const sinceText = text(args, "failed-since");
    if (idsText !== undefined && sinceText !== undefined) {
      throw new InputError(
        "redeliver: give --ids or --failed-since, not both",
      );
    }
    if (idsText === undefined && sinceText === undefined) {
      throw new InputError(
        "redeliver: say which alerts: --ids a,b or --failed-since 1h (--dry-run lists them first)",
      );
    }
    const ids = idsText?.split(",").map((id) => id.trim()).filter(Boolean);
    if (ids !== undefined && ids.length === 0) {
      throw new InputError("--ids needs at least one alert id");
    }
    let failedSince: Date | undefined;
    if (sinceText !== undefined) {
      try {
        failedSince = new Date(Date.now() - parseDuration(sinceText));
      } catch (err) {
        throw new InputError(`--failed-since: ${(err as Error).message}`);
      }
    }
    const actor = actorOf(text(args, "actor"));
    const dryRun = args.flags["dry-run"] === true;
    const config = await loadConfig({ path: args.config });
    const store = await openStore(config); // SQLite in data_dir, or the shared PostgreSQL
    try {
      if (ids && !dryRun) {
        // An unknown id is a typo: refuse the whole run before anything changes.
        const probe = await store.redeliver({
          ids,
          actor,
          source: "cli",
          dryRun: true,
        });
        const unknown = probe.skipped.filter((s) =>
          s.reason === "no such alert"
        );
        if (unknown.length > 0) {
          throw new InputError(
            `redeliver: no alert ${
              unknown.map((s) => JSON.stringify(s.alert_id)).join(", ")
            } (nothing was re-queued; ids are on /alerts and in the ingest answers)`,
          );
        }
      }
      const result = await store.redeliver({
        ...(ids ? { ids } : {}),
        ...(failedSince ? { failedSince } : {}),
        actor,
        source: "cli",
        dryRun,
      });
      for (const r of result.redelivered) console.log(line(r, dryRun));
      for (const s of result.skipped) {
        console.error(`redeliver: ${s.alert_id}: skipped: ${s.reason}`);
      }
      const n = result.redelivered.length;
      const emails = result.redelivered.filter((r) => r.email).length;
      const channels = result.redelivered.reduce(
        (sum, r) => sum + r.channels.length,
        0,
      );
      console.error(
        `redeliver: ${dryRun ? "would re-queue" : "re-queued"} ${n} alert${
          n === 1 ? "" : "s"
        } (${emails} email${
          emails === 1 ? "" : "s"
        }, ${channels} channel deliver${channels === 1 ? "y" : "ies"}) as ${
          JSON.stringify(actor)
        }${dryRun || n === 0 ? "" : "; serve delivers them"}`,
      );
      return 0;
    } finally {
      await store.close({ exiting: true });
    }
  },
};

export default command;
