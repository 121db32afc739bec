/**
 * `blitz migrate <mail_conf.py> [--out <dir>] [--dry-run]`: writes `blitz.yaml` and
 * `detectors/<device>.yaml` from the original Blitz's config (core/migrate/migrate.ts does the work),
 * then says which environment variables to set and which conditions need a person.
 *
 * Never overwrites a file it did not write: an existing file with other content stops the run before
 * anything is written; one with the same content is left as it is (a second run changes nothing).
 *
 * @module
 */
import { type CliArgs, type Command, CONFIG_OPTION } from "./command.ts";
import { InputError } from "../core/errors.ts";
import { dirname, join, resolve } from "../core/paths.ts";
import {
  formatSyntaxError,
  migrateMailConf,
  type Migration,
  PySyntaxError,
} from "../core/migrate/migrate.ts";

const USAGE = `Usage: blitz migrate <mail_conf.py> [--out <dir>] [--dry-run]

Reads the original Blitz's mail_conf.py (a Python-literal subset, never executed) and writes
<dir>/blitz.yaml and <dir>/detectors/<device>.yaml with the original keys verbatim (default <dir>: the
current folder). Literal secrets become \${env:NAME} references, printed with where they were;
conditional-enrichment keys are translated to CEL, or kept as "TODO(migrate): <python>" for you to
rewrite (check fails on them until you do). Existing files are never overwritten with other content.

  --out <dir>   where to write (created if missing)
  --dry-run     print the files instead of writing them

exit: 0 written (or printed), 2 bad input (errors as mail_conf.py:LINE:COL: message: fix)`;

/** Options of one run, from the CLI's arguments. */
interface MigrateOptions {
  file: string;
  out: string;
  dryRun: boolean;
}

function optionsOf(args: CliArgs): MigrateOptions {
  if (args.config !== undefined) {
    throw new InputError(
      "migrate takes no --config: it writes one (use --out <dir>)",
    );
  }
  const [file] = args.positional;
  if (!file) {
    throw new InputError(
      "Missing mail_conf.py: blitz migrate <mail_conf.py> [--out <dir>]",
    );
  }
  const out = args.flags.out;
  return {
    file,
    out: typeof out === "string" ? out : ".",
    dryRun: args.flags["dry-run"] === true,
  };
}

async function readSource(file: string): Promise<string> {
  try {
    return await Deno.readTextFile(file);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new InputError(`Cannot read "${file}": no such file`);
    }
    throw err;
  }
}

/** Writes the files, or refuses before writing any when one exists with other content. */
async function writeFiles(
  out: string,
  migration: Migration,
): Promise<string[]> {
  const lines: string[] = [];
  const plan: { path: string; text: string }[] = [];
  const conflicts: string[] = [];
  for (const { path, text } of migration.files) {
    const target = join(resolve(out), path);
    const existing = await Deno.readTextFile(target).catch((err) => {
      if (err instanceof Deno.errors.NotFound) return undefined;
      throw err;
    });
    if (existing === text) lines.push(`unchanged ${target}`);
    else if (existing !== undefined) conflicts.push(target);
    else plan.push({ path: target, text });
  }
  if (conflicts.length) {
    throw new InputError(
      `${conflicts.map((c) => `"${c}"`).join(", ")} already exist${
        conflicts.length === 1 ? "s" : ""
      } with other content: move ${
        conflicts.length === 1 ? "it" : "them"
      } away or choose another --out (nothing was written)`,
    );
  }
  for (const { path, text } of plan) {
    await Deno.mkdir(dirname(path), { recursive: true });
    await Deno.writeTextFile(path, text, { createNew: true });
    lines.push(`wrote ${path}`);
  }
  return lines;
}

function report(migration: Migration, out: string): string[] {
  const lines: string[] = [];
  if (migration.env.length) {
    lines.push(
      "",
      "Set these environment variables (the config reads them through ${env:NAME}):",
    );
    const width = Math.max(...migration.env.map((v) => v.name.length));
    for (const { name, origin } of migration.env) {
      lines.push(`  ${name.padEnd(width)}  ${origin}`);
    }
  }
  if (migration.todos.length) {
    lines.push(
      "",
      "Rewrite these conditions in CEL (check fails on them until you do):",
    );
    for (const { file, detector, condition } of migration.todos) {
      lines.push(`  ${join(out, file)}: ${detector}: ${condition}`);
    }
  }
  for (const note of migration.notes) lines.push(`note: ${note}`);
  lines.push("", `Then: deno task check --config ${join(out, "blitz.yaml")}`);
  return lines;
}

const command: Command = {
  usage: USAGE,
  options: {
    // Accepted only to say what to use instead: migrate writes a config, it reads none.
    ...CONFIG_OPTION,
    out: { type: "string", description: "where to write (created if missing)" },
    "dry-run": {
      type: "boolean",
      description: "print the files instead of writing them",
    },
  },
  positionals: ["mail_conf.py"],
  async run(args: CliArgs): Promise<number> {
    const options = optionsOf(args);
    const source = await readSource(options.file);
    let migration: Migration;
    try {
      migration = migrateMailConf(source, { file: options.file });
    } catch (err) {
      if (!(err instanceof PySyntaxError)) throw err;
      for (const line of formatSyntaxError(options.file, source, err)) {
        console.error(line);
      }
      return 2;
    }
    if (options.dryRun) {
      for (const { path, text } of migration.files) {
        console.log(`# ==> ${join(options.out, path)} <==\n${text}`);
      }
      for (const line of report(migration, options.out)) console.error(line);
      return 0;
    }
    const written = await writeFiles(options.out, migration);
    for (const line of [...written, ...report(migration, options.out)]) {
      console.log(line);
    }
    return 0;
  },
};

export default command;
