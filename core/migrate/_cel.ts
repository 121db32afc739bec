/**
 * The CEL side of the condition translation: alert field paths, presence tests (`has`), the guard a
 * field read with `.get()` needs when compared (absent is None in Python), and comparisons.
 *
 * @module
 */

/** A translated operand: a CEL boolean, a CEL value, or an alert field (maybe absent). */
export type Term =
  | { kind: "bool"; cel: string }
  | { kind: "value"; cel: string; literal?: "list" | "string" | "none" }
  | { kind: "field"; path: string[]; optional: boolean };

/** Thrown when an expression is outside the translated subset. */
export class Unsupported extends Error {}

export const COMPARE = new Set(["==", "!=", "<", "<=", ">", ">="]);
const CEL_RESERVED = new Set([
  "true",
  "false",
  "null",
  "in",
  "as",
  "break",
  "const",
  "continue",
  "else",
  "for",
  "function",
  "if",
  "import",
  "let",
  "loop",
  "package",
  "namespace",
  "return",
  "var",
  "void",
  "while",
]);

function fieldCel(path: string[]): string {
  return path.reduce(
    (acc, key) =>
      /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) && !CEL_RESERVED.has(key)
        ? `${acc}.${key}`
        : `${acc}[${JSON.stringify(key)}]`,
    "alert",
  );
}

/** `has(alert.x)`, or `"x" in alert` for a key CEL cannot select. */
export function presence(path: string[]): string {
  const last = path[path.length - 1]!;
  const parent = fieldCel(path.slice(0, -1));
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(last) && !CEL_RESERVED.has(last)
    ? `has(${parent}.${last})`
    : `${JSON.stringify(last)} in ${parent}`;
}

export function toBool(term: Term): string {
  if (term.kind === "bool") return term.cel;
  if (term.kind === "field" && term.optional) return presence(term.path);
  // Python truthiness of an arbitrary value has no CEL equivalent.
  throw new Unsupported();
}

export function toValue(term: Term): string {
  if (term.kind === "value") return term.cel;
  if (term.kind === "field") return fieldCel(term.path);
  throw new Unsupported();
}

/** Guards a test on a field read with `.get()`: absent is None in Python. */
export function guarded(term: Term, cel: string, absentIs: boolean): string {
  if (term.kind !== "field" || !term.optional) return cel;
  const has = presence(term.path);
  return absentIs ? `(!${has} || ${cel})` : `(${has} && ${cel})`;
}

export function numberCel(text: string): string {
  const clean = text.replaceAll("_", "");
  if (!/^\d+(\.\d+)?([eE][+-]?\d+)?$/.test(clean)) throw new Unsupported();
  return clean;
}

/** The items of a list literal this module wrote (`["a", "b"]`), as CEL texts. */
export function splitList(cel: string): string[] {
  return cel === "[]"
    ? []
    : JSON.parse(cel).map((s: unknown) => JSON.stringify(s));
}

export function compare(left: Term, op: string, right: Term): string {
  if (op === "is" || op === "is not") {
    const [term, other] = right.kind === "value" && right.literal === "none"
      ? [left, right]
      : [right, left];
    if (other.kind !== "value" || other.literal !== "none") {
      throw new Unsupported();
    }
    if (term.kind === "field" && term.optional) {
      const has = presence(term.path);
      return op === "is" ? `!${has}` : has;
    }
    return `${toValue(term)} ${op === "is" ? "==" : "!="} null`;
  }
  if (op === "in" || op === "not in") {
    let cel: string;
    if (right.kind === "value" && right.literal === "list") {
      cel = `${toValue(left)} in ${right.cel}`;
    } else if (right.kind === "value" && right.literal === "string") {
      cel = `${right.cel}.contains(${toValue(left)})`;
    } else throw new Unsupported(); // `x in document["y"]`: a list or a substring? Python cannot say either.
    const test = op === "in" ? cel : `!(${cel})`;
    return guarded(left, test, op === "not in");
  }
  if (left.kind === "bool" || right.kind === "bool") {
    if (op !== "==" && op !== "!=") throw new Unsupported();
    const cel = `${left.kind === "bool" ? left.cel : toValue(left)} ${op} ${
      right.kind === "bool" ? right.cel : toValue(right)
    }`;
    return guarded(left, guarded(right, cel, op === "!="), op === "!=");
  }
  const cel = `${toValue(left)} ${op} ${toValue(right)}`;
  return guarded(left, guarded(right, cel, op === "!="), op === "!=");
}
