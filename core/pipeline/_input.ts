/**
 * The pipeline's first step: alert text becomes a checked JSON object for a known detector, run
 * through the detector's preprocess hook.
 *
 * @module
 */
import { parseJson } from "../json.ts";
import type { LoadedConfig, LoadedDetector } from "../config/config.ts";
import { InputError } from "../errors.ts";
import { lookup } from "../template.ts";

const MAX_DEPTH = 64;

/** Parses alert text: one JSON object, nesting at most `maxDepth`; InputError otherwise. */
export function parseAlert(
  text: string,
  maxDepth = MAX_DEPTH,
): Record<string, unknown> {
  if (text.trim() === "") {
    throw new InputError("Empty input: expected one JSON object on stdin");
  }
  let value: unknown;
  try {
    value = parseJson(text); // big integers kept exactly
  } catch (err) {
    const lines = text.trim().split("\n");
    if (lines.length > 1 && lines.every(isJsonObject)) {
      throw new InputError(
        `stdin holds ${lines.length} JSON objects (NDJSON): ingest takes one alert; POST NDJSON to serve's /ingest/<detector> with Content-Type application/x-ndjson, or run ingest once per line`,
      );
    }
    throw new InputError(`Invalid JSON: ${(err as Error).message}`);
  }
  return checkAlert(value, maxDepth);
}

/** Checks that a parsed value is a JSON object within the depth limit. */
export function checkAlert(
  value: unknown,
  maxDepth = MAX_DEPTH,
  where = "Alert",
): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    const kind = value === null
      ? "null"
      : Array.isArray(value)
      ? "an array"
      : typeof value;
    throw new InputError(`${where} must be a JSON object, not ${kind}`);
  }
  if (depth(value, maxDepth) > maxDepth) {
    throw new InputError(`${where} is nested deeper than ${maxDepth} levels`);
  }
  return value as Record<string, unknown>;
}

function depth(value: unknown, limit: number, level = 1): number {
  if (level > limit || value === null || typeof value !== "object") {
    return level;
  }
  let max = level;
  for (const v of Object.values(value)) {
    if (v !== null && typeof v === "object") {
      max = Math.max(max, depth(v, limit, level + 1));
    }
    if (max > limit) break;
  }
  return max;
}

/** The detector config, or InputError naming the known ones. */
export function detectorOf(config: LoadedConfig, name: string): LoadedDetector {
  const detector = config.detectors.get(name);
  if (!detector) {
    const known = [...config.detectors.keys()].sort().join(", ") || "none";
    throw new InputError(`Unknown detector "${name}" (known: ${known})`);
  }
  return detector;
}

/** Runs the detector's preprocess hook, if any, and re-checks the result. */
export async function preprocess(
  detector: LoadedDetector,
  alert: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  if (!detector.module?.preprocess) return alert;
  const out = await detector.module.preprocess(structuredClone(alert));
  return checkAlert(out, MAX_DEPTH, `Preprocessed alert of ${detector.name}`);
}

function isJsonObject(line: string): boolean {
  try {
    const v = parseJson(line);
    return v !== null && typeof v === "object" && !Array.isArray(v);
  } catch {
    return false;
  }
}

/** Where a split item finds the request's other top-level fields (`{_parent.externalURL}`). */
export const PARENT_KEY = "_parent";

/**
 * The alerts one received alert becomes: itself, or with the detector's `split` (a path to an array),
 * each item of that array, an object, with the other top-level fields under `_parent` (Alertmanager's
 * `commonLabels`, `externalURL`, …). InputError when the path is not a non-empty array of objects.
 */
export function splitAlert(
  detector: LoadedDetector,
  alert: Record<string, unknown>,
  where = "Alert",
): Record<string, unknown>[] {
  const path = detector.config.split;
  if (path === undefined) return [alert];
  const items = lookup(alert, path);
  if (!Array.isArray(items) || items.length === 0) {
    throw new InputError(
      `${where}: the detector splits on "${path}", which ${
        Array.isArray(items)
          ? "is empty"
          : items === undefined
          ? "it does not have"
          : "is not an array"
      }: send one object with a non-empty "${path}" array`,
    );
  }
  const parent: Record<string, unknown> = {};
  const top = path.split(".")[0]!;
  for (const [key, value] of Object.entries(alert)) {
    if (key !== path && key !== top) parent[key] = value;
  }
  return items.map((item, i) => {
    if (item === null || typeof item !== "object" || Array.isArray(item)) {
      throw new InputError(
        `${where}: item ${i} of "${path}" must be a JSON object`,
      );
    }
    return { ...(item as Record<string, unknown>), [PARENT_KEY]: parent };
  });
}
