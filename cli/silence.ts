/**
 * `blitz silence add|list|expire` (storm control, issue 11): timed silences in the store, the same
 * ones the email button and the `/silences` page make. A silence always ends (`--for`, at most 30d);
 * alerts it covers are stored and counted, not mailed, and when it ends one email says how many came.
 *
 * @module
 */
import { type CliArgs, type Command, CONFIG_OPTION } from "./command.ts";
import { loadConfig } from "../core/config/config.ts";
import { parseDuration } from "../core/duration.ts";
import { InputError } from "../core/errors.ts";
import { didYouMean } from "../core/suggest.ts";
import { openStore } from "../core/service/runtime.ts";
import type { Silence } from "../core/store/store.ts";
import { addSilence } from "../core/storm/storm.ts";

const FLAGS: Record<string, string[]> = {
  add: ["match", "for", "comment", "by"],
  list: ["all", "json"],
  expire: [],
};

function checkFlags(sub: string, args: CliArgs): void {
  const known = FLAGS[sub]!;
  for (const [flag, value] of Object.entries(args.flags)) {
    if (value === undefined) continue;
    if (!known.includes(flag)) {
      throw new InputError(
        `silence ${sub}: unknown flag --${flag}${
          known.length
            ? didYouMean(flag, known.map((k) => k))
            : " (it takes none)"
        }`,
      );
    }
  }
}

function text(args: CliArgs, flag: string): string | undefined {
  const value = args.flags[flag];
  if (value === undefined) return undefined;
  if (typeof value !== "string") {
    throw new InputError(`--${flag} needs a value`);
  }
  return value;
}

function line(s: Silence): string {
  const what = s.match ??
    (s.fingerprint ? `fingerprint ${s.fingerprint}` : "every alert");
  return `${s.id}  ${s.detector}  ${s.starts_at} → ${s.ends_at}  by ${s.created_by}  ${s.suppressed} suppressed  ${what}${
    s.comment ? `  "${s.comment}"` : ""
  }${s.expired_at ? "  (expired early)" : ""}`;
}

const command: Command = {
  usage:
    `Usage: blitz silence add <detector|*> --for <duration> [--match '<CEL>'] [--comment "…"] [--by <name>]
       blitz silence list [--all] [--json]
       blitz silence expire <id>

Silences alerts: while a silence is active, alerts it covers (of <detector>, or of every detector
with *, and only those its CEL --match over "alert" accepts) are stored and counted, not mailed. When
it ends, one email says how many arrived and links them.

  --for      how long, at most 30d (a silence always ends), e.g. 4h
  --by       who silences (default $USER)
  list       active silences (--all: every silence, newest first); --json prints one JSON line each
  expire     ends a silence now (its end-of-silence email follows)
exit:   0 done, 2 bad input or config`,
  options: {
    ...CONFIG_OPTION,
    for: { type: "string", description: "add: how long, at most 30d, e.g. 4h" },
    match: {
      type: "string",
      description: "add: CEL over alert; absent: every alert",
    },
    comment: { type: "string", description: "add: why" },
    by: { type: "string", description: "add: who silences (default $USER)" },
    all: {
      type: "boolean",
      description: "list: every silence, not only active ones",
    },
    json: { type: "boolean", description: "list: one JSON line per silence" },
  },
  positionals: ["add|list|expire", "detector|id"],

  async run(args: CliArgs): Promise<number> {
    const [sub, ...rest] = args.positional;
    if (!sub || !(sub in FLAGS)) {
      throw new InputError(
        `silence: expected add, list or expire${
          sub ? `, not "${sub}"${didYouMean(sub, Object.keys(FLAGS))}` : ""
        }`,
      );
    }
    checkFlags(sub, args);
    const config = await loadConfig({ path: args.config });
    const store = await openStore(config); // SQLite in data_dir, or the shared PostgreSQL
    try {
      if (sub === "add") {
        const [detector, extra] = rest;
        if (!detector) {
          throw new InputError(
            "silence add: name the detector (or * for every detector)",
          );
        }
        if (extra) throw new InputError(`Unexpected argument "${extra}"`);
        const forText = text(args, "for");
        let forMs: number | undefined;
        if (forText !== undefined) {
          try {
            forMs = parseDuration(forText);
          } catch (err) {
            throw new InputError(`--for: ${(err as Error).message}`);
          }
        }
        const silence = await addSilence({
          store,
          detectors: config.detectors.keys(),
        }, {
          detector,
          match: text(args, "match"),
          forMs,
          createdBy: text(args, "by") ?? Deno.env.get("USER") ?? "cli",
          comment: text(args, "comment"),
        }).catch((err) => {
          if (
            err instanceof InputError &&
            /^(for|match|detector):/.test(err.message)
          ) {
            throw new InputError(`silence add: --${err.message}`);
          }
          throw err;
        });
        console.log(line(silence));
        return 0;
      }
      if (sub === "list") {
        if (rest.length) {
          throw new InputError(`Unexpected argument "${rest[0]}"`);
        }
        const silences = await store.storm.listSilences({
          now: new Date(),
          all: args.flags.all === true,
        });
        for (const s of silences) {
          console.log(args.flags.json === true ? JSON.stringify(s) : line(s));
        }
        if (silences.length === 0 && args.flags.json !== true) {
          console.error(
            args.flags.all === true ? "no silences" : "no active silences",
          );
        }
        return 0;
      }
      const [id, extra] = rest;
      if (!id) {
        throw new InputError(
          "silence expire: give the silence id (see silence list)",
        );
      }
      if (extra) throw new InputError(`Unexpected argument "${extra}"`);
      const found = await store.storm.getSilence(id);
      if (!found) throw new InputError(`silence expire: no silence "${id}"`);
      if (!(await store.storm.expireSilence(id, new Date()))) {
        throw new InputError(
          `silence expire: "${id}" already ended at ${found.ends_at}`,
        );
      }
      console.log(
        `expired ${id}; serve sends its end-of-silence email if alerts arrived during it`,
      );
      return 0;
    } finally {
      await store.close({ exiting: true });
    }
  },
};

export default command;
