/**
 * JSON for evidence: `parseJson` keeps integers beyond 2^53 exactly (as `bigint`, from the source text the
 * reviver sees), `stringifyJson` writes them back digit for digit (`JSON.rawJSON`), so what is stored and
 * shown is what the sender sent (Falco `evt.time` 1685022245478445995, Suricata `flow_id`). Also the
 * `Json` type (which `core/plugin.ts` re-exports) and copies of plugin results.
 *
 * @module
 */

/** JSON-compatible data an enrichment or action returns. */
export type Json = null | boolean | number | string | Json[] | {
  [key: string]: Json;
};

const INTEGER = /^-?\d+$/;
const LONG_DIGITS = /\d{16}/;

/**
 * `JSON.parse`, losslessly: an integer that a double cannot hold exactly becomes a `bigint` with the
 * sender's digits; every other value is what `JSON.parse` gives. Throws SyntaxError as `JSON.parse` does.
 */
export function parseJson(text: string): unknown {
  // Without 16 digits in a row no integer in the text reaches 2^53 (9007199254740992, 16 digits): then
  // the reviver would change nothing, and plain JSON.parse is 2-3× faster.
  if (!LONG_DIGITS.test(text)) return JSON.parse(text);
  return JSON.parse(
    text,
    function (_key, value, context?: { source?: string }) {
      if (
        typeof value === "number" && !Number.isSafeInteger(value) &&
        context?.source !== undefined && INTEGER.test(context.source)
      ) return BigInt(context.source);
      return value;
    } as (this: unknown, key: string, value: unknown) => unknown,
  );
}

/**
 * {@link parseJson} for the parts of `text` (the lines of an NDJSON body): `JSON.parse` itself when
 * the whole text has no 16 digits in a row, so no part can hold an integer beyond 2^53 (one search of
 * the body instead of one per line).
 */
export function partsParser(text: string): (part: string) => unknown {
  return LONG_DIGITS.test(text) ? parseJson : JSON.parse;
}

/** `JSON.rawJSON` (ES2026, in Deno 2.9's V8; not yet in TypeScript's lib). */
const rawJSON = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;

function exactBigints(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? rawJSON(value.toString()) : value;
}

/**
 * `JSON.stringify` that writes `bigint`s as JSON numbers with all their digits (never throws on them).
 * Plain `JSON.stringify` first: a replacer is called for every key and made this several times slower
 * (the record's UPDATE of each alert); only a value that holds a bigint (plain stringify throws a
 * TypeError on it) goes through the replacer.
 */
export function stringifyJson(value: unknown, indent?: number): string {
  try {
    return JSON.stringify(value, null, indent) ?? "null";
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    return JSON.stringify(value, exactBigints, indent) ?? "null";
  }
}

/**
 * JSON-compatible copy of a plugin's result: bigints become strings, `undefined` and functions become
 * null, and a value that cannot be serialised at all (a cycle) becomes its text.
 */
export function toJson(value: unknown): Json {
  if (value === undefined) return null;
  let text: string | undefined;
  try {
    // Without a replacer first, as in stringifyJson: only a value holding a bigint (a TypeError, as
    // is a cycle) pays for one (a cached enrichment's result is copied once per alert).
    text = JSON.stringify(value);
  } catch (err) {
    if (!(err instanceof TypeError)) return String(value);
    try {
      text = JSON.stringify(
        value,
        (_k, v) => (typeof v === "bigint" ? v.toString() : v),
      );
    } catch {
      return String(value);
    }
  }
  return JSON.parse(text ?? "null");
}

/** What {@link capJson} keeps of a value: what the email shows of it at most. */
export const STORED_LIMITS = {
  /** Characters of one string (a deeper value is kept as its JSON text, cut the same way). */
  chars: 20_000,
  /** Items of an array, keys of an object. */
  items: 200,
  /** Nesting kept as structure. */
  depth: 6,
} as const;

/**
 * A JSON value cut to {@link STORED_LIMITS}: long strings end with `… [N more characters]`, long
 * arrays and objects keep their first items and a last `"… N more"` entry, values deeper than `depth`
 * become their JSON text. Used for enrichment results too big to store whole.
 */
export function capJson(value: Json, depth = 0): Json {
  const { chars, items } = STORED_LIMITS;
  if (typeof value === "string") {
    return value.length > chars
      ? `${value.slice(0, chars)}… [${value.length - chars} more characters]`
      : value;
  }
  if (value === null || typeof value !== "object") return value;
  if (depth >= STORED_LIMITS.depth) return capJson(JSON.stringify(value));
  if (Array.isArray(value)) {
    const kept: Json[] = value.slice(0, items).map((v) =>
      capJson(v, depth + 1)
    );
    if (value.length > items) kept.push(`… ${value.length - items} more`);
    return kept;
  }
  const entries = Object.entries(value);
  const out: Record<string, Json> = {};
  for (const [k, v] of entries.slice(0, items)) out[k] = capJson(v, depth + 1);
  if (entries.length > items) out["…"] = `${entries.length - items} more keys`;
  return out;
}
