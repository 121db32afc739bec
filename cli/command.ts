/**
 * The shape of a subcommand (`cli/<name>.ts`) and of its parsed arguments. Below `main.ts`, which
 * re-exports them, so that a subcommand names them without importing the file that imports it.
 *
 * @module
 */

/** Parsed command-line arguments of a subcommand. */
export interface CliArgs {
  positional: string[];
  config?: string;
  help: boolean;
  flags: Record<string, string | boolean>;
}

/** A subcommand module's shape. */
export interface Command {
  usage: string;
  run(args: CliArgs): Promise<number>;
}
