/**
 * The command-line parser of every subcommand: `node:util` `parseArgs` in strict mode over the
 * command's declared option table (`Command.options`) plus the common `--help`/`-h` and `--version`.
 * Unknown options and stray positionals are errors that name the word and suggest the closest known
 * option; a boolean option never takes the next word as its value; `--flag=false` (also `0`, `no`,
 * `off`) is false and `--flag=true` (`1`, `yes`, `on`) is true.
 *
 * @module
 */
import { parseArgs as nodeParseArgs } from "node:util";
import { InputError } from "../core/errors.ts";
import { closest } from "../core/suggest.ts";
import type { CliArgs, Options } from "./command.ts";

/** Options every command accepts. */
export const COMMON_OPTIONS: Options = {
  help: { type: "boolean", short: "h", description: "show this help" },
  version: { type: "boolean", description: "print the Blitz version" },
};

const TRUE = new Set(["true", "1", "yes", "on"]);
const FALSE = new Set(["false", "0", "no", "off"]);

/** What a command accepts: its option table and the names of its positional arguments. */
export interface ArgsSpec {
  /** The command's name, for messages. */
  command: string;
  options: Options;
  /** Names of the positional arguments it takes, in order (`["detector"]`); more is an error. */
  positionals: readonly string[];
}

/** Parses `argv` (the words after the command's name) against `spec`; bad input throws InputError. */
export function parseCommandArgs(spec: ArgsSpec, argv: string[]): CliArgs {
  const options: Options = { ...spec.options, ...COMMON_OPTIONS };
  const forced = new Map<string, boolean>();
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === "--") {
      words.push(...argv.slice(i));
      break;
    }
    const name = optionName(word, options, spec.command);
    if (name === undefined) {
      words.push(word);
      continue;
    }
    const option = options[name]!;
    const eq = word.indexOf("=");
    if (option.type === "boolean" && eq !== -1) {
      // parseArgs refuses `--flag=value` for a boolean; accept the usual spellings of true/false.
      const value = word.slice(eq + 1).toLowerCase();
      if (TRUE.has(value)) forced.set(name, true);
      else if (FALSE.has(value)) forced.set(name, false);
      else {
        throw new InputError(
          `${spec.command}: --${name} is a switch: write --${name}, --${name}=true or --${name}=false (got "${
            word.slice(eq + 1)
          }")`,
        );
      }
      continue;
    }
    words.push(word);
  }
  let parsed: ReturnType<typeof nodeParseArgs>;
  try {
    parsed = nodeParseArgs({
      args: words,
      options: nodeOptions(options),
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    throw new InputError(`${spec.command}: ${parseErrorMessage(err)}`);
  }
  const values = parsed.values as Record<
    string,
    string | boolean | string[] | undefined
  >;
  for (const [name, value] of forced) {
    if (!options[name]!.multiple) values[name] = value;
  }
  const extra = parsed.positionals.slice(spec.positionals.length);
  if (extra.length) throw unexpected(spec, extra[0]!);
  const { help, version, config, ...flags } = values;
  const args: CliArgs = {
    positional: parsed.positionals,
    help: help === true,
    version: version === true,
    flags,
  };
  if (typeof config === "string") args.config = config;
  return args;
}

/** The option a word names (`--name`, `--name=v`, `-x`), undefined for a positional; unknown throws. */
function optionName(
  word: string,
  options: Options,
  command: string,
): string | undefined {
  if (!word.startsWith("-") || word === "-") return undefined;
  if (word.startsWith("--")) {
    const name = word.slice(2).split("=", 1)[0]!;
    if (Object.hasOwn(options, name)) return name;
    throw unknownOption(command, `--${name}`, options);
  }
  const letter = word.slice(1, 2);
  const name = Object.keys(options).find((n) => options[n]!.short === letter);
  if (name !== undefined && word.length === 2) return name;
  throw unknownOption(command, word, options);
}

function unknownOption(
  command: string,
  word: string,
  options: Options,
): InputError {
  const known = Object.keys(options).map((n) => `--${n}`);
  const best = closest(word, known);
  return new InputError(
    `Unknown option "${word}" for ${command}${
      best ? `; did you mean "${best}"?` : ""
    } (known: ${known.join(", ")})`,
  );
}

function unexpected(spec: ArgsSpec, word: string): InputError {
  const takes = spec.positionals.length
    ? `takes ${spec.positionals.map((p) => `<${p}>`).join(" ")}`
    : "takes no arguments";
  const hint = /\.ya?ml$/i.test(word) && Object.hasOwn(spec.options, "config")
    ? `; did you mean "--config ${word}"?`
    : "";
  return new InputError(
    `Unexpected argument "${word}": ${spec.command} ${takes}${hint}`,
  );
}

function nodeOptions(options: Options) {
  const out: Record<
    string,
    { type: "string" | "boolean"; short?: string; multiple?: boolean }
  > = {};
  for (const [name, option] of Object.entries(options)) {
    out[name] = {
      type: option.type,
      ...(option.short ? { short: option.short } : {}),
      ...(option.multiple ? { multiple: true } : {}),
    };
  }
  return out;
}

/** parseArgs's own message, with its "--name <value>" spelling kept and its advice trimmed. */
function parseErrorMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: string }).code;
  const named =
    /^Option '(?:-\w, )?(--[\w-]+)(?: <value>)?' argument (missing|is ambiguous)/
      .exec(message);
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && named) {
    const [, flag, why] = named;
    return why === "missing"
      ? `${flag} needs a value: ${flag} <value>`
      : `${flag} needs a value, not an option (for a value that starts with "-", write ${flag}=-value)`;
  }
  return message;
}
