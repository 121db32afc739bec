/**
 * `{key}` placeholders, as in the original Blitz, reaching real detector data:
 *
 * - dotted paths resolve greedily against the real keys, the longest key that exists winning (Falco's
 *   `{output_fields.proc.cmdline}` reads the key `"proc.cmdline"` of `output_fields`), and fall back
 *   to shorter keys when the longer one leads nowhere;
 * - bracket syntax names a key exactly: `{output_fields["k8s.pod.name"]}`, `{tags[0]}`;
 * - `{@timestamp}` and other keys starting with `@` or `$` work; array items by index (`{ips.0}`);
 * - a default after `|`: `{src_ip|unknown}` when the value is missing, null or empty;
 * - in text, arrays are joined `a, b, c`; in JSON targets ({@link fillDeep} with `typed`), a string that
 *   is exactly one placeholder becomes the value itself (`"{alert.signature_id}"` → `2018358`).
 *
 * One pass only: a substituted value is never expanded again. A missing key without a default stays
 * literally `{key}`, and is reported to the caller (`missing`) so it is never silent.
 *
 * @module
 */
import { stringifyJson } from "./json.ts";

const SEGMENT = String.raw`[\w@$-]+`;
const BRACKET = String.raw`\[(?:"(?:[^"\\]|\\.)*"|'[^'\\]*'|\d+)\]`;
const PATH = String.raw`[A-Za-z_@$][\w@$-]*(?:\.${SEGMENT}|${BRACKET})*`;
/** `{path}` or `{path|default}`; the path starts with a letter, `_`, `@` or `$` (so `{"json"}` is text). */
const PLACEHOLDER = new RegExp(
  String.raw`\{(${PATH})(?:\|([^{}\r\n]*))?\}`,
  "g",
);
const WHOLE = new RegExp(String.raw`^\{(${PATH})(?:\|([^{}\r\n]*))?\}$`);

/** One step of a parsed path: dotted parts may join into one key; a bracket part is one exact key. */
type Part = { dotted: string[] } | { exact: string };

const parsedPaths = new Map<string, Part[]>();

/** Splits a placeholder path into dotted runs and exact (bracket) keys; cached per path. */
function parsePath(path: string): Part[] {
  const cached = parsedPaths.get(path);
  if (cached) return cached;
  const parts: Part[] = [];
  let run: string[] = [];
  const re = new RegExp(String.raw`\.?(${SEGMENT})|${BRACKET}`, "y");
  let at = 0;
  while (at < path.length) {
    re.lastIndex = at;
    const m = re.exec(path);
    if (!m) break;
    at = re.lastIndex;
    if (m[1] !== undefined) {
      run.push(m[1]);
      continue;
    }
    if (run.length) parts.push({ dotted: run }), run = [];
    const raw = m[0].slice(1, -1);
    parts.push({
      exact: raw.startsWith('"')
        ? JSON.parse(raw)
        : raw.startsWith("'")
        ? raw.slice(1, -1)
        : raw,
    });
  }
  if (run.length) parts.push({ dotted: run });
  if (parsedPaths.size > 10_000) parsedPaths.clear();
  parsedPaths.set(path, parts);
  return parts;
}

function child(value: unknown, key: string): unknown {
  if (
    value === null || typeof value !== "object" || !Object.hasOwn(value, key)
  ) {
    return undefined;
  }
  return (value as Record<string, unknown>)[key];
}

/** Resolves parts from `value`: each dotted run tries its longest joined key first, then shorter ones. */
function resolveParts(
  value: unknown,
  parts: Part[],
  i: number,
  from: number,
): unknown {
  const part = parts[i];
  if (part === undefined) return value;
  if ("exact" in part) {
    const next = child(value, part.exact);
    return next === undefined ? undefined : resolveParts(next, parts, i + 1, 0);
  }
  const segments = part.dotted;
  if (from >= segments.length) return resolveParts(value, parts, i + 1, 0);
  for (let end = segments.length; end > from; end--) {
    const next = child(value, segments.slice(from, end).join("."));
    if (next === undefined) continue;
    const found = resolveParts(next, parts, i, end);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Reads a path (`source.ip`, `output_fields.proc.cmdline`, `a["b.c"]`, `ips.0`); `undefined` when absent. */
export function lookup(
  data: Readonly<Record<string, unknown>>,
  path: string,
): unknown {
  if (Object.hasOwn(data, path)) return data[path];
  return resolveParts(data, parsePath(path), 0, 0);
}

/** A placeholder's value: found (possibly via its default) or not. */
function resolvePlaceholder(
  data: Readonly<Record<string, unknown>>,
  path: string,
  fallback: string | undefined,
): { found: true; value: unknown } | { found: false } {
  const value = lookup(data, path);
  if (
    fallback !== undefined &&
    (value === undefined || value === null || value === "")
  ) {
    return { found: true, value: fallback };
  }
  return value === undefined ? { found: false } : { found: true, value };
}

/** A value as text: arrays joined `a, b, c`, objects as JSON, null as nothing, big integers exactly. */
export function valueText(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) {
    return value.map((v) =>
      v !== null && typeof v === "object" ? stringifyJson(v) : valueText(v)
    )
      .join(", ");
  }
  if (typeof value === "object") return stringifyJson(value);
  return String(value);
}

/** Options of the fill functions. */
export interface FillOptions {
  /** Receives the text of every placeholder left unfilled (`{key}`), in order, duplicates included. */
  missing?: string[];
}

/** Fills `{key}` placeholders in one string from `data`, in a single pass. */
export function fill(
  template: string,
  data: Readonly<Record<string, unknown>>,
  options: FillOptions = {},
): string {
  return template.replace(
    PLACEHOLDER,
    (whole, path: string, fallback?: string) => {
      const r = resolvePlaceholder(data, path, fallback);
      if (r.found) return valueText(r.value);
      options.missing?.push(whole);
      return whole;
    },
  );
}

/**
 * Replaces every placeholder with what `replace` returns for it (`value` is `undefined` when the path is
 * missing and there is no default); for fillers with their own rules (URLs: encoded, missing is an error).
 */
export function replacePlaceholders(
  template: string,
  data: Readonly<Record<string, unknown>>,
  replace: (p: { text: string; path: string; value: unknown }) => string,
): string {
  return template.replace(
    PLACEHOLDER,
    (text, path: string, fallback?: string) => {
      const r = resolvePlaceholder(data, path, fallback);
      return replace({ text, path, value: r.found ? r.value : undefined });
    },
  );
}

/** The placeholders in a template, as written (`{src_ip|unknown}`), with their paths. */
export function placeholders(
  template: string,
): { text: string; path: string; index: number }[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => ({
    text: m[0],
    path: m[1]!,
    index: m.index,
  }));
}

/**
 * Fills placeholders in every string inside a JSON-like value (action configs, e_args); keys stay as
 * they are. With `typed`, a string that is exactly one placeholder becomes the value itself (a number
 * stays a number in a JSON body); otherwise values enter as text.
 */
export function fillDeep<T>(
  value: T,
  data: Readonly<Record<string, unknown>>,
  options: FillOptions & { typed?: boolean } = {},
): T {
  if (typeof value === "string") {
    if (options.typed) {
      const whole = WHOLE.exec(value);
      if (whole) {
        const r = resolvePlaceholder(data, whole[1]!, whole[2]);
        if (r.found) return r.value as T;
      }
    }
    return fill(value, data, options) as T;
  }
  if (Array.isArray(value)) {
    return value.map((v) => fillDeep(v, data, options)) as T;
  }
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = fillDeep(v, data, options);
    }
    return out as T;
  }
  return value;
}
