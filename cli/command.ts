/**
 * The shape of a subcommand (`cli/<name>.ts`), of its option table and of its parsed arguments. Below
 * `main.ts`, which re-exports them, so that a subcommand names them without importing the file that
 * imports it. `cli/args.ts` parses argv against the table.
 *
 * @module
 */

/** One option of a command: `--name` (a switch) or `--name <value>`; `multiple` repeats it. */
export interface OptionSpec {
  type: "string" | "boolean";
  /** A one-letter alias (`h` for `-h`). */
  short?: string;
  /** A string option given several times collects every value (`--sample a=x --sample b=y`). */
  multiple?: boolean;
  description: string;
}

/** A command's options by name (without the leading `--`). */
export type Options = Record<string, OptionSpec>;

/** Parsed command-line arguments of a subcommand. */
export interface CliArgs {
  positional: string[];
  config?: string;
  help: boolean;
  version: boolean;
  /** Every option of the table except config, help and version, as parseArgs gave it. */
  flags: Record<string, string | boolean | string[] | undefined>;
}

/** The `--config <path>` option, shared by the commands that read a config. */
export const CONFIG_OPTION: Options = {
  config: {
    type: "string",
    description: "the global config (else BLITZ_CONFIG, else ./blitz.yaml)",
  },
};

/** A subcommand module's shape. */
export interface Command {
  usage: string;
  /** Its options (`--help`, `--version` are common to all); anything else is refused. */
  options: Options;
  /** Names of its positional arguments, in order; more is refused. */
  positionals: readonly string[];
  run(args: CliArgs): Promise<number>;
}
