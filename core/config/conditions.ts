/**
 * Conditions of `enrichment_conditional` blocks: CEL expressions over `alert`, compiled once at load
 * time (never `eval`).
 *
 * @module
 */
import { Environment } from "@marcbachmann/cel-js";

const env = new Environment({
  unlistedVariablesAreDyn: false,
  enableOptionalTypes: true,
})
  .registerVariable("alert", "map");

/** A compiled condition. */
export interface Condition {
  source: string;
  /** Evaluates against an alert; throws on runtime errors (the caller counts them as no match). */
  matches(alert: Record<string, unknown>): boolean;
}

/** Compiles a CEL expression; throws SyntaxError with the parser's message when it is invalid. */
export function compileCondition(source: string): Condition {
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
    throw new SyntaxError(
      `Invalid CEL condition: ${(err as Error).message.split("\n")[0]}`,
      { cause: err },
    );
  }
  return {
    source,
    matches(alert) {
      const result = program({ alert });
      if (typeof result !== "boolean") {
        throw new TypeError(`Condition returned ${typeof result}, not a bool`);
      }
      return result;
    },
  };
}
