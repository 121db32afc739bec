/**
 * `{key}` placeholders, as in the original Blitz: top-level keys and dotted paths (`{source.ip}`).
 * One pass only: a substituted value is never expanded again. A missing key stays literally `{key}`.
 *
 * @module
 */

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*)\}/g;

/** Reads a top-level key or a dotted path from a value; `undefined` when absent. */
export function lookup(
  data: Readonly<Record<string, unknown>>,
  path: string,
): unknown {
  if (Object.hasOwn(data, path)) return data[path];
  let current: unknown = data;
  for (const part of path.split(".")) {
    if (
      current === null || typeof current !== "object" ||
      !Object.hasOwn(current, part)
    ) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

function stringify(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === null) return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** Fills `{key}` placeholders in one string from `data`, in a single pass. */
export function fill(
  template: string,
  data: Readonly<Record<string, unknown>>,
): string {
  return template.replace(PLACEHOLDER, (whole, key: string) => {
    const value = lookup(data, key);
    return value === undefined ? whole : stringify(value);
  });
}

/** Fills placeholders in every string inside a JSON-like value (action configs, e_args). */
export function fillDeep<T>(
  value: T,
  data: Readonly<Record<string, unknown>>,
): T {
  if (typeof value === "string") return fill(value, data) as T;
  if (Array.isArray(value)) return value.map((v) => fillDeep(v, data)) as T;
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = fillDeep(v, data);
    return out as T;
  }
  return value;
}
