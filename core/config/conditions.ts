/**
 * Conditions of `enrichment_conditional` blocks: CEL expressions over `alert` and `severity` (the
 * alert's level when the detector sets `severity`, else ""), compiled once at load time (never `eval`);
 * and value expressions (`severity.cel`).
 *
 * @module
 */
import { Environment } from "@marcbachmann/cel-js";
import { closest } from "../suggest.ts";
import { safeRegex } from "./_regex.ts";

// `matches` runs through safeRegex (linear time, or refused when it could backtrack catastrophically):
// the engine's own `matches` cannot be replaced, so compiled conditions call `linearMatches` instead.
const env = new Environment({
  unlistedVariablesAreDyn: false,
  enableOptionalTypes: true,
})
  .registerVariable("alert", "map")
  .registerVariable("severity", "string")
  .registerFunction(
    "string.linearMatches(string): bool",
    (text: string, pattern: string) => safeRegex(pattern).test(text),
  );

/** What one evaluation of a condition may cost. */
export interface ConditionBudget {
  /** Elements its comprehensions may visit, estimated before it runs (largest list ^ nesting). */
  size: number;
  /** Milliseconds it may take; a longer evaluation's result is not used. */
  timeMs: number;
}

/** The default `condition_budget`. */
export const DEFAULT_CONDITION_BUDGET: ConditionBudget = {
  size: 100_000,
  timeMs: 100,
};

/** A condition that would cost, or cost, more than its budget; it counts as not matching. */
export class ConditionBudgetError extends Error {
  override name = "ConditionBudgetError";
}

const COMPREHENSIONS = new Set([
  "all",
  "exists",
  "exists_one",
  "map",
  "filter",
]);

interface Shape {
  /** Deepest nesting of comprehensions. */
  depth: number;
  /** Whether `split` makes lists from strings (their length then counts). */
  splits: boolean;
}

/**
 * Walks a parsed condition: renames `matches` to `linearMatches`, checks literal patterns now (a config
 * error rather than one per alert), and measures how deep comprehensions nest.
 */
function prepare(
  node: unknown,
  depth = 0,
  shape: Shape = { depth: 0, splits: false },
): Shape {
  if (!node || typeof node !== "object") return shape;
  if (Array.isArray(node)) {
    for (const item of node) prepare(item, depth, shape);
    return shape;
  }
  const ast = node as { op?: unknown; args?: unknown };
  let inner = depth;
  if (ast.op === "rcall" && Array.isArray(ast.args)) {
    const [name, , args] = ast.args as [unknown, unknown, unknown];
    if (name === "matches") {
      ast.args[0] = "linearMatches";
      const pattern = Array.isArray(args)
        ? args[0] as { op?: unknown; args?: unknown }
        : undefined;
      if (pattern?.op === "value" && typeof pattern.args === "string") {
        safeRegex(pattern.args);
      }
    }
    if (name === "split") shape.splits = true;
    if (typeof name === "string" && COMPREHENSIONS.has(name)) {
      inner = depth + 1;
      shape.depth = Math.max(shape.depth, inner);
    }
  }
  for (const value of Object.values(ast)) prepare(value, inner, shape);
  return shape;
}

/** The longest list or map (or, when `strings`, string) anywhere in `value`. */
function largest(value: unknown, strings: boolean): number {
  let max = 0;
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === "string") {
      if (strings && v.length + 1 > max) max = v.length + 1;
    } else if (Array.isArray(v)) {
      if (v.length > max) max = v.length;
      for (const item of v) stack.push(item);
    } else if (v && typeof v === "object") {
      const values = Object.values(v);
      if (values.length > max) max = values.length;
      for (const item of values) stack.push(item);
    }
  }
  return max;
}

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
export function compileCondition(
  source: string,
  budget: ConditionBudget = DEFAULT_CONDITION_BUDGET,
): Condition {
  if (source.startsWith(TODO_CONDITION)) {
    throw new SyntaxError(
      `Condition kept from mail_conf.py as Python, not CEL: rewrite ${
        JSON.stringify(source.slice(TODO_CONDITION.length))
      } in CEL over alert, e.g. alert.severity == "high" (README: "Migrating from the original Blitz")`,
    );
  }
  let program: (ctx: Record<string, unknown>) => unknown;
  let shape: Shape;
  try {
    const parsed = env.parse(source);
    shape = prepare((parsed as unknown as { ast: unknown }).ast);
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
      if (shape.depth > 0) {
        const n = largest(alert, shape.splits);
        const steps = (n + 1) ** shape.depth;
        if (steps > budget.size) {
          throw new ConditionBudgetError(
            `Condition exceeded its budget: its comprehensions, nested ${shape.depth} deep over lists of up to ${n} elements, would visit about ${
              Math.round(steps).toLocaleString("en")
            } (condition_budget.size: ${budget.size.toLocaleString("en")})`,
          );
        }
      }
      const started = performance.now();
      const result = program({ alert, severity: vars.severity ?? "" });
      const ms = performance.now() - started;
      if (ms > budget.timeMs) {
        throw new ConditionBudgetError(
          `Condition exceeded its budget: it took ${
            Math.round(ms)
          } ms (condition_budget.time: ${budget.timeMs} ms)`,
        );
      }
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
    prepare((parsed as unknown as { ast: unknown }).ast);
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
