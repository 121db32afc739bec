/**
 * Severity, a first-class idea: the detector key `severity` maps the detector's own scale (Suricata's
 * 1–3, Wazuh `rule.level` 0–15, GuardDuty 0–8.9, Falco priority names, Alertmanager
 * `labels.severity`) to Blitz's four levels.
 *
 * ```yaml
 * severity:
 *   field: alert.severity                    # an alert path; or `cel: '<expression>'` returning a value
 *   map: {1: critical, 2: high, 3: medium}   # exact values; absent = the value already is a level name
 *   ranges: [{min: 7, level: high}, {min: 4, level: medium}]   # numeric scales; first match wins
 *   default: medium                          # when the field is missing or unmapped
 * ```
 *
 * Order: `map` (exact, compared as text), then `ranges` (numeric values, numeric text included), then
 * the value itself when it is a level name (any case), then `default`.
 *
 * @module
 */
import { lookup } from "./template.ts";

/** Blitz's severity levels, most severe first. */
export const LEVELS = ["critical", "high", "medium", "low"] as const;
/** One of {@link LEVELS}. */
export type Level = typeof LEVELS[number];

/** The parsed detector key `severity` (its schema is `SeveritySchema` in `config/schema.ts`). */
export interface SeverityConfig {
  field?: string | undefined;
  cel?: string | undefined;
  map?: Record<string, Level> | undefined;
  ranges?: { min: number; level: Level }[] | undefined;
  default: Level;
}

/** A severity rule ready to apply: the config, and its CEL expression compiled when it has one. */
export interface SeverityRule {
  config: SeverityConfig;
  /** Evaluates `cel` over the alert; throws on runtime errors (then `default` applies). */
  evaluate?: (alert: Record<string, unknown>) => unknown;
}

/** The raw value the rule reads: the field's value or the expression's result (`undefined` on error). */
export function severityInput(
  rule: SeverityRule,
  alert: Record<string, unknown>,
): unknown {
  const { field } = rule.config;
  if (field !== undefined) {
    // A path as placeholders read it (Suricata's `alert.severity` is a real path); failing that, a
    // CEL-style `alert.` prefix is dropped.
    const value = lookup(alert, field);
    return value === undefined && field.startsWith("alert.")
      ? lookup(alert, field.slice(6))
      : value;
  }
  try {
    return rule.evaluate?.(alert);
  } catch {
    return undefined;
  }
}

/** The alert's level under the rule. */
export function severityOf(
  rule: SeverityRule,
  alert: Record<string, unknown>,
): Level {
  return levelFor(rule.config, severityInput(rule, alert));
}

/** A raw value's level under the config: map, ranges, a level name, else the default. */
export function levelFor(config: SeverityConfig, value: unknown): Level {
  if (value === undefined || value === null) return config.default;
  const text = typeof value === "string" ? value.trim() : String(value);
  if (config.map && Object.hasOwn(config.map, text)) return config.map[text]!;
  if (config.ranges) {
    const n = typeof value === "bigint"
      ? Number(value)
      : typeof value === "number"
      ? value
      : text !== "" && Number.isFinite(Number(text))
      ? Number(text)
      : undefined;
    if (n !== undefined) {
      const hit = config.ranges.find((r) => n >= r.min);
      if (hit) return hit.level;
    }
  }
  const name = text.toLowerCase();
  if ((LEVELS as readonly string[]).includes(name)) return name as Level;
  return config.default;
}

/** Badge colours per level (WCAG AA contrast on white text). */
export const LEVEL_COLORS: Record<Level, { bg: string; fg: string }> = {
  critical: { bg: "#9b1c1c", fg: "#ffffff" },
  high: { bg: "#c2410c", fg: "#ffffff" },
  medium: { bg: "#8a6100", fg: "#ffffff" },
  low: { bg: "#3b5b7a", fg: "#ffffff" },
};
