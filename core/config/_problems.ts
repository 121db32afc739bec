/**
 * How config problems and warnings read: zod issues as `<file>: <detector>.<path>: <message>` (a
 * union's issues from the one branch that fits the value), and literal secrets in committed files.
 *
 * @module
 */
import type { z } from "zod";
import { closest } from "../suggest.ts";

const SECRET_PATHS = [
  /^action_keys\[\d+\]\.secret$/,
  /^ingest_tokens\[\d+\]$/,
  /^ingest_hmac_secret$/,
  /^ui_auth\.users\[\d+\]\.password$/,
  /^channels\.[^.]+\.(token|signing_secret|secret|routing_key|webhook_url)$/,
];

/**
 * zod's message for keys a strict object does not know, each with the closest known key when one is
 * close (`Unrecognized key: "subjet"; did you mean "subject"?`); undefined for every other issue.
 */
export function unknownKeysMessage(
  issue: z.core.$ZodRawIssue,
): string | undefined {
  if (issue.code !== "unrecognized_keys") return undefined;
  const shape = (issue.inst as { _zod?: { def?: { shape?: object } } })
    ?._zod?.def?.shape;
  const known = Object.keys(shape ?? {});
  const keys = issue.keys as string[];
  const hints = keys.map((key) => {
    const best = closest(key, known);
    return `"${key}"${best ? `; did you mean "${best}"?` : ""}`;
  });
  return `Unrecognized key${keys.length > 1 ? "s" : ""}: ${hints.join(", ")}`;
}

/** Formats a zod issue path: `a.b[0].c`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

/** Replaces a union's bare "Invalid input" by the issues of the one branch that matched the value's shape. */
function unionIssues(
  issues: readonly z.core.$ZodIssue[],
  base: PropertyKey[] = [],
): z.core.$ZodIssue[] {
  return issues.flatMap((issue) => {
    const path = [...base, ...issue.path];
    if (issue.code === "invalid_union") {
      const fits = issue.errors.filter((b) =>
        !b.some((i) => i.path.length === 0 && i.code === "invalid_type")
      );
      if (fits.length === 1) return unionIssues(fits[0]!, path);
    }
    return [{ ...issue, path }];
  });
}

/** Each zod issue as `<file>: <prefix>.<path>: <message>`. */
export function zodProblems(
  file: string,
  prefix: string,
  error: z.ZodError,
): string[] {
  return unionIssues(error.issues).map((issue) => {
    const where = [prefix, formatPath(issue.path)].filter(Boolean).join(
      prefix && issue.path.length ? "." : "",
    );
    return `${file}: ${where || "(root)"}: ${issue.message}`;
  });
}

/** Warnings for secrets written literally in `raw` (the file as read) instead of as `${env:NAME}`. */
export function literalSecrets(
  raw: unknown,
  file: string,
  path = "",
): string[] {
  if (typeof raw === "string") {
    const secret = SECRET_PATHS.some((re) => re.test(path)) ||
      (/(^smtp$|^databases\.|^store\.url$)/.test(path) &&
        /:\/\/[^/@\s]*:[^/@\s]+@/.test(raw));
    return secret && !raw.includes("${env:")
      ? [`${file}: ${path}: literal secret; use \${env:NAME}`]
      : [];
  }
  if (Array.isArray(raw)) {
    return raw.flatMap((v, i) => literalSecrets(v, file, `${path}[${i}]`));
  }
  if (raw && typeof raw === "object") {
    return Object.entries(raw).flatMap(([k, v]) =>
      literalSecrets(v, file, path ? `${path}.${k}` : k)
    );
  }
  return [];
}
