/** JSON-compatible data (the `Json` type, which `core/plugin.ts` re-exports) and copies of plugin results. @module */

/** JSON-compatible data an enrichment or action returns. */
export type Json = null | boolean | number | string | Json[] | {
  [key: string]: Json;
};

/**
 * JSON-compatible copy of a plugin's result: bigints become strings, `undefined` and functions become
 * null, and a value that cannot be serialised at all (a cycle) becomes its text.
 */
export function toJson(value: unknown): Json {
  if (value === undefined) return null;
  try {
    return JSON.parse(
      JSON.stringify(
        value,
        (_k, v) => (typeof v === "bigint" ? v.toString() : v),
      ) ?? "null",
    );
  } catch {
    return String(value);
  }
}
