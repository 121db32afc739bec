/** Error classes callers catch by meaning. */

/** A problem in the global config or a detector file; `file` and `path` locate it. */
export class ConfigError extends Error {
  override name = "ConfigError";
  /** Each problem as `<file>: <where>: <message>`. */
  readonly problems: string[];
  constructor(problems: string[], options?: ErrorOptions) {
    super(
      problems.length === 1
        ? problems[0]
        : `${problems.length} config problems:\n${problems.join("\n")}`,
      options,
    );
    this.problems = problems;
  }
}

/** Bad alert input (not JSON, not an object, unknown detector). */
export class InputError extends Error {
  override name = "InputError";
}

/** A one-line message for people from any thrown value: the first line of an Error's message (or its name). */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return (err.message || err.name).split("\n")[0]!;
  return String(err);
}
