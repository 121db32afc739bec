/**
 * Fingerprints: the values of a detector's `storm.fingerprint` paths in an alert, read as placeholders
 * read them (`lookup`: a top-level key, else a dotted path), and the id that keys the fingerprint's
 * window in the store: a hash of the detector, the definition (the list of paths) and the values. A
 * path absent from the alert is its own value, `(missing)`, distinct from any value an alert can carry,
 * so two unrelated alerts never merge because both lack a field.
 *
 * @module
 */
import { stringifyJson } from "../json.ts";
import { sha256Hex } from "../sha256.ts";
import { lookup } from "../template.ts";

/** How an absent path is shown. */
export const MISSING = "(missing)";

/** A fingerprint of one alert. */
export interface Fingerprint {
  /** Keys the window: hash of detector, definition and values. */
  id: string;
  /** Hash of the definition (the paths in order): a changed definition starts new windows. */
  definition: string;
  paths: string[];
  /** Each path's value as shown to people. */
  values: string[];
}

/** Definitions seen, by their JSON: a config has a handful, and each alert needs its own's hash. */
const definitions = new Map<string, string>();

/** The hash of a fingerprint definition (12 hex digits). */
export function definitionHash(paths: readonly string[]): string {
  const text = JSON.stringify(paths);
  let hash = definitions.get(text);
  if (hash === undefined) {
    hash = sha256Hex(text).slice(0, 12);
    if (definitions.size >= 1_000) definitions.clear();
    definitions.set(text, hash);
  }
  return hash;
}

/** A value as shown: strings as they are, anything else as JSON, an absent path as `(missing)`. */
export function shownValue(value: unknown): string {
  if (value === undefined) return MISSING;
  if (typeof value === "string") return value;
  return stringifyJson(value);
}

/** The fingerprint of `alert` under `paths` for `detector`. */
export function fingerprintOf(
  detector: string,
  paths: readonly string[],
  alert: Readonly<Record<string, unknown>>,
): Fingerprint {
  const raw = paths.map((path) => lookup(alert, path));
  // Hashed as JSON with absent paths as a marker no JSON value encodes to: "(missing)" the string and
  // an absent path stay two fingerprints.
  const encoded = raw.map((v) => v === undefined ? "\u0000" : stringifyJson(v));
  const definition = definitionHash(paths);
  return {
    id: sha256Hex(JSON.stringify([detector, definition, encoded])).slice(0, 24),
    definition,
    paths: [...paths],
    values: raw.map(shownValue),
  };
}

/** The fingerprint paths absent from a sample alert (for `check --sample` and `check`'s warning). */
export function missingPaths(
  paths: readonly string[],
  sample: Readonly<Record<string, unknown>>,
): string[] {
  return paths.filter((path) => lookup(sample, path) === undefined);
}

/** The group (`storm.group.by`) of an alert: its key hashes detector, definition, paths and values. */
export function groupOf(
  detector: string,
  definition: string,
  by: readonly string[],
  alert: Readonly<Record<string, unknown>>,
): { key: string; paths: string[]; values: string[] } {
  const raw = by.map((path) => lookup(alert, path));
  const encoded = raw.map((v) =>
    v === undefined ? "\u0000" : JSON.stringify(v)
  );
  return {
    key: sha256Hex(
      JSON.stringify(["group", detector, definition, by, encoded]),
    ).slice(0, 24),
    paths: [...by],
    values: raw.map(shownValue),
  };
}
