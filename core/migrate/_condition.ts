/**
 * Conditional-enrichment keys of `mail_conf.py` (Python expressions the original passed to `eval`)
 * translated to CEL for the common subset: `document["x"]` → `alert.x`, `document.get("x")` →
 * `has(alert.x)` (and a `has` guard where it is compared), `and`/`or`/`not`, comparisons,
 * `in [...]`, `.startswith(...)`/`.endswith(...)`, `is None`. Anything else returns `undefined`, and
 * the caller keeps the original text under a TODO marker for a person to rewrite.
 *
 * The expression is read with the same tokenizer as the literals and never evaluated.
 *
 * @module
 */
import { type Token, tokenize } from "./_tokens.ts";
import {
  COMPARE,
  compare,
  guarded,
  numberCel,
  splitList,
  type Term,
  toBool,
  toValue,
  Unsupported,
} from "./_cel.ts";

/** The Python name the original's conditions read the alert from. */
const DOCUMENT = "document";

/** Translates a Python condition to CEL, or returns undefined when it is outside the subset. */
export function pythonToCel(source: string): string | undefined {
  let tokens: Token[];
  try {
    tokens = tokenize(source).filter((t) => t.kind !== "newline");
  } catch {
    return undefined;
  }
  try {
    const parser = new ConditionParser(tokens);
    const term = parser.expression();
    if (parser.peek.kind !== "eof") return undefined;
    return unparen(toBool(term));
  } catch (err) {
    if (err instanceof Unsupported) return undefined;
    throw err;
  }
}

function unparen(cel: string): string {
  if (!cel.startsWith("(") || !cel.endsWith(")")) return cel;
  let depth = 0;
  for (let i = 0; i < cel.length; i++) {
    if (cel[i] === '"') {
      for (i++; i < cel.length && cel[i] !== '"'; i++) if (cel[i] === "\\") i++;
      continue;
    }
    if (cel[i] === "(") depth++;
    if (cel[i] === ")") depth--;
    if (depth === 0 && i < cel.length - 1) return cel;
  }
  return cel.slice(1, -1);
}

class ConditionParser {
  #tokens: Token[];
  #i = 0;
  constructor(tokens: Token[]) {
    this.#tokens = tokens;
  }

  get peek(): Token {
    return this.#tokens[this.#i]!;
  }

  #next(): Token {
    return this.#tokens[this.#i++]!;
  }

  #is(value: string, token: Token = this.peek): boolean {
    return (token.kind === "op" || token.kind === "name") &&
      token.value === value;
  }

  #expect(value: string): void {
    if (!this.#is(value)) throw new Unsupported();
    this.#next();
  }

  expression(): Term {
    let left = this.#and();
    while (this.#is("or")) {
      this.#next();
      left = {
        kind: "bool",
        cel: `(${toBool(left)} || ${toBool(this.#and())})`,
      };
    }
    return left;
  }

  #and(): Term {
    let left = this.#not();
    while (this.#is("and")) {
      this.#next();
      left = {
        kind: "bool",
        cel: `(${toBool(left)} && ${toBool(this.#not())})`,
      };
    }
    return left;
  }

  #not(): Term {
    if (this.#is("not")) {
      this.#next();
      return { kind: "bool", cel: `!${toBool(this.#not())}` };
    }
    return this.#comparison();
  }

  #comparison(): Term {
    const left = this.#primary();
    const op = this.#operator();
    if (!op) return left;
    const right = this.#primary();
    if (this.#operator()) throw new Unsupported(); // chained comparisons
    return { kind: "bool", cel: compare(left, op, right) };
  }

  /** Reads a comparison operator if one is next: ==, !=, <, <=, >, >=, in, not in, is, is not. */
  #operator(): string | undefined {
    const token = this.peek;
    if (token.kind === "op" && COMPARE.has(token.value)) {
      return this.#next().value;
    }
    if (this.#is("in")) return this.#next().value;
    if (this.#is("not") && this.#is("in", this.#tokens[this.#i + 1])) {
      this.#i += 2;
      return "not in";
    }
    if (this.#is("is")) {
      this.#next();
      if (this.#is("not")) {
        this.#next();
        return "is not";
      }
      return "is";
    }
    return undefined;
  }

  #primary(): Term {
    let term = this.#atom();
    for (;;) {
      if (this.#is("[")) {
        this.#next();
        const key = this.#next();
        this.#expect("]");
        if (term.kind !== "field" || term.optional || key.kind !== "string") {
          throw new Unsupported();
        }
        term = {
          kind: "field",
          path: [...term.path, key.value],
          optional: false,
        };
        continue;
      }
      if (this.#is(".")) {
        this.#next();
        const method = this.#next();
        if (method.kind !== "name") throw new Unsupported();
        term = this.#call(term, method.value);
        continue;
      }
      return term;
    }
  }

  #call(target: Term, method: string): Term {
    this.#expect("(");
    const args: Term[] = [];
    while (!this.#is(")")) {
      args.push(this.expression());
      if (!this.#is(")")) this.#expect(",");
    }
    this.#next();
    if (
      target.kind === "field" && target.path.length === 0 && method === "get"
    ) {
      const key = args[0];
      if (
        args.length !== 1 || key?.kind !== "value" || key.literal !== "string"
      ) {
        throw new Unsupported(); // .get(key, default) has no CEL twin worth guessing
      }
      return { kind: "field", path: [JSON.parse(key.cel)], optional: true };
    }
    if (method === "startswith" || method === "endswith") {
      const cel = method === "startswith" ? "startsWith" : "endsWith";
      const arg = args[0];
      if (args.length !== 1 || arg?.kind !== "value") throw new Unsupported();
      const subject = toValue(target);
      const prefixes = arg.literal === "string"
        ? [arg.cel]
        : arg.literal === "list"
        ? splitList(arg.cel)
        : undefined;
      if (!prefixes?.length) throw new Unsupported();
      const test = prefixes.map((p) => `${subject}.${cel}(${p})`).join(" || ");
      return {
        kind: "bool",
        cel: guarded(target, prefixes.length > 1 ? `(${test})` : test, false),
      };
    }
    throw new Unsupported();
  }

  #atom(): Term {
    const token = this.#next();
    if (token.kind === "string") {
      let text = token.value;
      while (this.peek.kind === "string") text += this.#next().value;
      return { kind: "value", cel: JSON.stringify(text), literal: "string" };
    }
    if (token.kind === "number") {
      return { kind: "value", cel: numberCel(token.value) };
    }
    if (this.#is("-", token) && this.peek.kind === "number") {
      return { kind: "value", cel: `-${numberCel(this.#next().value)}` };
    }
    if (token.kind === "name") {
      if (token.value === "True") return { kind: "bool", cel: "true" };
      if (token.value === "False") return { kind: "bool", cel: "false" };
      if (token.value === "None") {
        return { kind: "value", cel: "null", literal: "none" };
      }
      if (token.value === DOCUMENT) {
        return { kind: "field", path: [], optional: false };
      }
      throw new Unsupported();
    }
    if (this.#is("(", token)) {
      if (this.#is(")")) throw new Unsupported();
      const first = this.expression();
      if (this.#is(")")) {
        this.#next();
        return first.kind === "bool"
          ? { kind: "bool", cel: `(${first.cel})` }
          : first;
      }
      return this.#list(first, ")");
    }
    if (this.#is("[", token)) {
      if (this.#is("]")) {
        this.#next();
        return { kind: "value", cel: "[]", literal: "list" };
      }
      return this.#list(this.expression(), "]");
    }
    throw new Unsupported();
  }

  /** A list or tuple of literal values (after its first item). */
  #list(first: Term, close: string): Term {
    const items = [first];
    while (this.#is(",")) {
      this.#next();
      if (this.#is(close)) break;
      items.push(this.expression());
    }
    this.#expect(close);
    if (items.some((t) => t.kind !== "value" || t.literal === "list")) {
      throw new Unsupported();
    }
    return {
      kind: "value",
      cel: `[${items.map((t) => (t as { cel: string }).cel).join(", ")}]`,
      literal: "list",
    };
  }
}
