/**
 * Conditions of `enrichment_conditional` blocks: CEL expressions over `alert` and `severity` (the
 * alert's level when the detector sets `severity`, else ""), compiled once at load time (never `eval`);
 * and value expressions (`severity.cel`).
 *
 * @module
 */
import { Environment } from "@marcbachmann/cel-js";
import { closest } from "../suggest.ts";

const env = new Environment({
  unlistedVariablesAreDyn: false,
  enableOptionalTypes: true,
})
  .registerVariable("alert", "map")
  .registerVariable("severity", "string");

/** Variables besides `alert` that conditions may read. */
export interface ConditionVars {
  /** The alert's level (core/severity.ts), "" when the detector has no `severity`. @default "" */
  severity?: string;
}

/** A compiled condition. */
export interface Condition {
  source: string;
  /** Evaluates against an alert; throws on runtime errors (the caller counts them as no match). */
  matches(alert: Record<string, unknown>, vars?: ConditionVars): boolean;
}

/**
 * Marks a condition `migrate` could not translate from the original's Python: the original text
 * follows it, and it never compiles, so `check` names it until a person rewrites it in CEL.
 */
export const TODO_CONDITION = "TODO(migrate): ";

/** Compiles a CEL expression; throws SyntaxError with the parser's message when it is invalid. */
export function compileCondition(source: string): Condition {
  if (source.startsWith(TODO_CONDITION)) {
    throw new SyntaxError(
      `Condition kept from mail_conf.py as Python, not CEL: rewrite ${
        JSON.stringify(source.slice(TODO_CONDITION.length))
      } in CEL over alert, e.g. alert.severity == "high" (README: "Migrating from the original Blitz")`,
    );
  }
  let program: (ctx: Record<string, unknown>) => unknown;
  try {
    const parsed = env.parse(source);
    const checked = parsed.check();
    if (!checked.valid && checked.error) throw checked.error;
    if (checked.type && checked.type !== "bool" && checked.type !== "dyn") {
      throw new TypeError(`must be a bool expression, not ${checked.type}`);
    }
    program = parsed;
  } catch (err) {
    const message = (err as Error).message.split("\n")[0]!;
    throw new SyntaxError(
      `Invalid CEL condition: ${message}${bareFieldHint(message)}`,
      { cause: err },
    );
  }
  return {
    source,
    matches(alert, vars = {}) {
      const result = program({ alert, severity: vars.severity ?? "" });
      if (typeof result !== "boolean") {
        throw new TypeError(`Condition returned ${typeof result}, not a bool`);
      }
      return result;
    },
  };
}

/** For an unknown variable: alert fields are read through `alert` (`src_ip` → `alert.src_ip`). */
function bareFieldHint(message: string): string {
  const name = /^Unknown variable: ([\w.]+)/.exec(message)?.[1];
  if (name === undefined) return "";
  const variable = closest(name, ["alert", "severity"]);
  return variable && variable !== name
    ? `; did you mean "${variable}" (or the field "alert.${name}")?`
    : `; alert fields are read through alert: did you mean "alert.${name}"?`;
}

/** A compiled value expression (`severity.cel`). */
export interface Expression {
  source: string;
  /** Evaluates over `alert`; throws on runtime errors. */
  evaluate(alert: Record<string, unknown>): unknown;
}

/** Compiles a CEL expression of any type over `alert`; SyntaxError when it is invalid. */
export function compileExpression(source: string): Expression {
  let program: (ctx: Record<string, unknown>) => unknown;
  try {
    const parsed = env.parse(source);
    const checked = parsed.check();
    if (!checked.valid && checked.error) throw checked.error;
    program = parsed;
  } catch (err) {
    const message = (err as Error).message.split("\n")[0]!;
    throw new SyntaxError(
      `Invalid CEL expression: ${message}${bareFieldHint(message)}`,
      { cause: err },
    );
  }
  return { source, evaluate: (alert) => program({ alert, severity: "" }) };
}
