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

/**
 * True for a write refused because the disk is full: SQLite's SQLITE_FULL ("database or disk is
 * full"), an ENOSPC from the OS, PostgreSQL's `disk_full` (53100). Nothing of such a write is
 * committed, and the same write succeeds once space returns.
 */
export function isDiskFull(err: unknown): boolean {
  const e = err as { errcode?: unknown; code?: unknown; message?: unknown };
  if (typeof e?.errcode === "number" && (e.errcode & 0xff) === 13) return true;
  if (e?.code === "53100" || e?.code === "ENOSPC") return true;
  return /database or disk is full|No space left on device|ENOSPC|os error 28/i
    .test(String(e?.message ?? err));
}
