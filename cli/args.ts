/**
 * The command-line parser of every subcommand, over the command's declared option table
 * (`Command.options`) plus the common `--help`/`-h` and `--version`. It follows `node:util`
 * `parseArgs` in strict mode (a string option takes the next word or `=value`, `--` ends the options,
 * a repeated option keeps its last value unless `multiple`) without loading it: `node:util` pulls in
 * Deno's Node inspect, errors and validators, ~7 ms of every cold `ingest` (issue 17).
 * Unknown options and stray positionals are errors that name the word and suggest the closest known
 * option; a boolean option never takes the next word as its value; `--flag=false` (also `0`, `no`,
 * `off`) is false and `--flag=true` (`1`, `yes`, `on`) is true.
 *
 * @module
 */
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
  const parsed = parseWords(words, options, spec.command);
  const values = parsed.values;
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

/**
 * Splits `words` (every option in them is known: `optionName` ran first) into option values and
 * positionals, the way strict `parseArgs` does.
 */
function parseWords(
  words: string[],
  options: Options,
  command: string,
): {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
} {
  const values: Record<string, string | boolean | string[] | undefined> = {};
  const positionals: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word === "--") {
      positionals.push(...words.slice(i + 1));
      break;
    }
    if (!word.startsWith("-") || word === "-") {
      positionals.push(word);
      continue;
    }
    const eq = word.indexOf("=");
    const name = word.startsWith("--")
      ? word.slice(2, eq === -1 ? undefined : eq)
      : Object.keys(options).find((n) => options[n]!.short === word[1])!;
    const option = options[name]!;
    if (option.type === "boolean") {
      values[name] = true;
      continue;
    }
    let value: string;
    if (word.startsWith("--") && eq !== -1) value = word.slice(eq + 1);
    else {
      const next = words[i + 1];
      if (next === undefined) {
        throw new InputError(
          `${command}: --${name} needs a value: --${name} <value>`,
        );
      }
      if (next.startsWith("-") && next !== "-") {
        throw new InputError(
          `${command}: --${name} needs a value, not an option (for a value that starts with "-", write --${name}=-value)`,
        );
      }
      value = next;
      i++;
    }
    if (option.multiple) {
      const list = values[name];
      values[name] = Array.isArray(list) ? [...list, value] : [value];
    } else values[name] = value;
  }
  return { values, positionals };
}
