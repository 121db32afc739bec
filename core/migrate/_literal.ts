/**
 * The parser of `mail_conf.py`: a module of `NAME = <literal>` statements (imports are skipped), where a
 * literal is a string (adjacent strings join, as in Python), a number, `True`/`False`/`None`, a tuple, a
 * list or a dict, with trailing commas. Anything else (a call, a name, arithmetic) is an error at its
 * position: the original passed this file to Python, Blitz never evaluates it.
 *
 * A missing comma gets a hint at the exact place to type it. The published sample's
 * `"mail_title": "{param3}""enrichment": True` is two adjacent strings (which Python joins) followed by
 * `:`: the comma belongs right after the first string.
 *
 * @module
 */
import {
  type Position,
  PySyntaxError,
  type Token,
  tokenize,
} from "./_tokens.ts";

/** A Python literal as data: tuples become arrays, dicts keep their order in a Map. */
export type PyValue =
  | string
  | number
  | boolean
  | null
  | PyValue[]
  | PyDict;
/** A dict; keys are strings (number keys are written as their text). */
export type PyDict = Map<string, PyValue>;

/** One top-level `NAME = value`. */
export interface Assignment {
  name: string;
  value: PyValue;
  at: Position;
}

/** A parsed module. */
export interface PyModule {
  assignments: Assignment[];
  /** Statements that were skipped (imports), as `line N: text`. */
  skipped: string[];
}

/** Parses `mail_conf.py` source; throws PySyntaxError at the first problem. */
export function parseModule(source: string): PyModule {
  const tokens = tokenize(source);
  const parser = new LiteralParser(tokens);
  return parser.module();
}

/** Parses one literal expression (for tests and conditions' list operands). */
export function parseLiteral(source: string): PyValue {
  const parser = new LiteralParser(tokenize(source));
  const value = parser.value();
  parser.expectEnd();
  return value;
}

function describe(token: Token): string {
  if (token.kind === "eof") return "end of file";
  if (token.kind === "newline") return "end of line";
  if (token.kind === "string") return `string ${JSON.stringify(token.value)}`;
  return `"${token.value}"`;
}

/** Tokens that can start a value: after a value, one of them means a comma is missing. */
function startsValue(token: Token): boolean {
  return token.kind === "string" || token.kind === "number" ||
    token.kind === "name" ||
    (token.kind === "op" && "([{-+".includes(token.value));
}

class LiteralParser {
  #tokens: Token[];
  #i = 0;
  constructor(tokens: Token[]) {
    this.#tokens = tokens;
  }

  get #peek(): Token {
    return this.#tokens[this.#i]!;
  }

  #next(): Token {
    return this.#tokens[this.#i++]!;
  }

  #atLineEnd(): boolean {
    const kind = this.#tokens[this.#i]!.kind;
    return kind === "newline" || kind === "eof";
  }

  #isOp(value: string, token: Token = this.#peek): boolean {
    return token.kind === "op" && token.value === value;
  }

  module(): PyModule {
    const out: PyModule = { assignments: [], skipped: [] };
    const seen = new Map<string, Position>();
    while (this.#peek.kind !== "eof") {
      if (this.#peek.kind === "newline") {
        this.#next();
        continue;
      }
      const first = this.#next();
      if (
        first.kind === "name" &&
        (first.value === "import" || first.value === "from")
      ) {
        const words: string[] = [first.value];
        while (!this.#atLineEnd()) words.push(this.#next().value);
        out.skipped.push(`line ${first.start.line}: ${words.join(" ")}`);
        continue;
      }
      if (first.kind !== "name" || !this.#isOp("=")) {
        throw new PySyntaxError(
          `expected "NAME = value", found ${describe(first)}`,
          first.start,
          "mail_conf.py may only assign literals to names (and import)",
        );
      }
      this.#next();
      const value = this.value();
      const end = this.#peek;
      if (end.kind !== "newline" && !this.#isOp(";")) {
        throw this.#unexpected(end, "after the value");
      }
      this.#next();
      if (seen.has(first.value)) {
        // Python keeps the last one; say so rather than guess.
        throw new PySyntaxError(
          `"${first.value}" is assigned twice (first on line ${
            seen.get(first.value)!.line
          })`,
          first.start,
          "keep one assignment",
        );
      }
      seen.set(first.value, first.start);
      out.assignments.push({ name: first.value, value, at: first.start });
    }
    return out;
  }

  expectEnd(): void {
    while (this.#peek.kind === "newline") this.#next();
    if (this.#peek.kind !== "eof") {
      throw this.#unexpected(this.#peek, "after the value");
    }
  }

  value(): PyValue {
    const token = this.#next();
    if (token.kind === "string") return this.#strings(token);
    if (token.kind === "number") return numberOf(token);
    if (token.kind === "op" && (token.value === "-" || token.value === "+")) {
      const number = this.#next();
      if (number.kind !== "number") {
        throw new PySyntaxError(
          `expected a number after "${token.value}"`,
          number.start,
        );
      }
      return token.value === "-" ? -numberOf(number) : numberOf(number);
    }
    if (token.kind === "name") {
      if (token.value === "True") return true;
      if (token.value === "False") return false;
      if (token.value === "None") return null;
      throw new PySyntaxError(
        `"${token.value}" is a name, not a literal`,
        token.start,
        `only strings, numbers, True, False, None, tuples, lists and dicts can be migrated; quote it if it is text: "${token.value}"`,
      );
    }
    if (this.#isOp("(", token)) return this.#sequence(token, ")");
    if (this.#isOp("[", token)) return this.#sequence(token, "]");
    if (this.#isOp("{", token)) return this.#dict(token);
    throw this.#unexpected(token, "where a value should be");
  }

  /** Joins adjacent strings, as Python does; a dict key after them means a comma is missing. */
  #strings(first: Token): string {
    let text = first.value;
    let previous = first;
    while (this.#peek.kind === "string") {
      const next = this.#next();
      if (this.#isOp(":")) {
        // `"a" "b":` can never be right: "b" starts the next entry of a dict.
        throw new PySyntaxError(
          `missing ',' between ${JSON.stringify(text)} and the key ${
            JSON.stringify(next.value)
          } (Python would join the two strings)`,
          previous.end,
          "insert ',' here",
        );
      }
      text += next.value;
      previous = next;
    }
    if (this.#peek.kind === "name" || this.#peek.kind === "number") {
      throw new PySyntaxError(
        `missing ',' after ${JSON.stringify(text)}`,
        previous.end,
        "insert ',' here",
      );
    }
    return text;
  }

  /** A tuple `( … )` or list `[ … ]` (both become arrays); `(x)` is just x. */
  #sequence(open: Token, close: ")" | "]"): PyValue {
    const items: PyValue[] = [];
    let sawComma = false;
    for (;;) {
      if (this.#isOp(close)) {
        this.#next();
        break;
      }
      items.push(this.value());
      const after = this.#peek;
      if (this.#isOp(",")) {
        this.#next();
        sawComma = true;
        continue;
      }
      if (this.#isOp(close)) continue;
      throw this.#missingComma(after, open, close);
    }
    if (close === ")" && items.length === 1 && !sawComma) return items[0]!;
    return items;
  }

  #dict(open: Token): PyDict {
    const dict: PyDict = new Map();
    for (;;) {
      if (this.#isOp("}")) {
        this.#next();
        return dict;
      }
      const keyToken = this.#peek;
      const key = this.value();
      if (typeof key === "object" && key !== null) {
        throw new PySyntaxError(
          "dict keys must be strings or numbers here",
          keyToken.start,
          "use a string key",
        );
      }
      if (!this.#isOp(":")) {
        if (this.#isOp(",") || this.#isOp("}")) {
          throw new PySyntaxError(
            "sets are not supported: expected ':' after the key",
            this.#peek.start,
            "write key: value",
          );
        }
        throw this.#unexpected(this.#peek, "after a dict key (expected ':')");
      }
      this.#next();
      const name = key === null
        ? "None"
        : typeof key === "boolean"
        ? (key ? "True" : "False")
        : String(key);
      if (dict.has(name)) {
        throw new PySyntaxError(
          `duplicate key ${
            JSON.stringify(name)
          } in this dict (Python keeps the last)`,
          keyToken.start,
          "remove one of them",
        );
      }
      dict.set(name, this.value());
      const after = this.#peek;
      if (this.#isOp(",")) {
        this.#next();
        continue;
      }
      if (this.#isOp("}")) continue;
      throw this.#missingComma(after, open, "}");
    }
  }

  #missingComma(after: Token, open: Token, close: string): PySyntaxError {
    const previous = this.#tokens[this.#i - 1]!;
    if (startsValue(after)) {
      return new PySyntaxError(
        `missing ',' before ${describe(after)}`,
        previous.end,
        "insert ',' here",
      );
    }
    if (after.kind === "eof") {
      return new PySyntaxError(
        `"${open.value}" opened on line ${open.start.line}:${open.start.col} is never closed`,
        open.start,
        `add '${close}'`,
      );
    }
    return this.#unexpected(after, `(expected ',' or '${close}')`);
  }

  #unexpected(token: Token, where: string): PySyntaxError {
    if (token.kind === "op" && token.value === "(") {
      return new PySyntaxError(
        `calls are code, not literals: unexpected "(" ${where}`,
        token.start,
        "write the value itself",
      );
    }
    return new PySyntaxError(
      `unexpected ${describe(token)} ${where}`,
      token.start,
    );
  }
}

function numberOf(token: Token): number {
  const text = token.value.replaceAll("_", "");
  const value = /^0[oO]/.test(text)
    ? parseInt(text.slice(2), 8)
    : /^0[bB]/.test(text)
    ? parseInt(text.slice(2), 2)
    : Number(text);
  if (!Number.isFinite(value)) {
    throw new PySyntaxError(`invalid number "${token.value}"`, token.start);
  }
  return value;
}
