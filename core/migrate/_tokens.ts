/**
 * The tokenizer of the Python-literal subset `migrate` reads (the original Blitz's `mail_conf.py`):
 * names, numbers, strings with every Python escape and prefix but `b`/`f`, operators, `#` comments,
 * and newlines that end a statement (only outside brackets, as in Python). Nothing is ever evaluated.
 *
 * Positions are 1-based lines and columns counted in code points, so an error points at the character a
 * person sees in an editor.
 *
 * @module
 */

/** Where a token starts or ends (the end is the position just after its last character). */
export interface Position {
  line: number;
  col: number;
}

/** One token. `value` is the decoded text of a string, the source text of anything else. */
export interface Token {
  kind: "name" | "number" | "string" | "op" | "newline" | "eof";
  value: string;
  start: Position;
  end: Position;
}

/** A syntax error at a position, with an optional suggested fix. */
export class PySyntaxError extends SyntaxError {
  override name = "PySyntaxError";
  readonly at: Position;
  readonly hint: string | undefined;
  constructor(message: string, at: Position, hint?: string) {
    super(message);
    this.at = at;
    this.hint = hint;
  }
}

const OPERATORS = [
  "**",
  "==",
  "!=",
  "<=",
  ">=",
  "//",
  "(",
  ")",
  "[",
  "]",
  "{",
  "}",
  ",",
  ":",
  "=",
  ".",
  "-",
  "+",
  "*",
  "/",
  "%",
  "<",
  ">",
  ";",
  "@",
  "|",
  "&",
  "^",
  "~",
];

const SIMPLE_ESCAPES: Record<string, string> = {
  "\\": "\\",
  "'": "'",
  '"': '"',
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
};

/** Splits Python source into tokens; throws PySyntaxError at the first character it cannot read. */
export function tokenize(source: string): Token[] {
  const chars = Array.from(source.replace(/^\uFEFF/, ""));
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let col = 1;
  let depth = 0;
  const here = (): Position => ({ line, col });
  const advance = (n = 1) => {
    for (let k = 0; k < n; k++) {
      if (chars[i] === "\n") line++, col = 1;
      else col++;
      i++;
    }
  };
  const push = (kind: Token["kind"], value: string, start: Position) =>
    tokens.push({ kind, value, start, end: here() });

  while (i < chars.length) {
    const c = chars[i]!;
    if (c === "#") {
      while (i < chars.length && chars[i] !== "\n") advance();
      continue;
    }
    if (c === "\n") {
      const start = here();
      advance();
      const last = tokens[tokens.length - 1];
      if (depth === 0 && last && last.kind !== "newline") {
        tokens.push({ kind: "newline", value: "\n", start, end: start });
      }
      continue;
    }
    if (c === " " || c === "\t" || c === "\r" || c === "\f") {
      advance();
      continue;
    }
    if (c === "\\" && (chars[i + 1] === "\n" || chars[i + 1] === "\r")) {
      advance(chars[i + 1] === "\r" && chars[i + 2] === "\n" ? 3 : 2);
      continue;
    }
    const start = here();
    const prefix = /^[rRuUbBfF]{1,2}(?=['"])/.exec(
      chars.slice(i, i + 3).join(""),
    )?.[0];
    if (c === "'" || c === '"' || prefix) {
      const lower = (prefix ?? "").toLowerCase();
      if (lower.includes("f")) {
        throw new PySyntaxError(
          "f-strings are code, not literals",
          start,
          "write the text as a plain string",
        );
      }
      if (lower.includes("b")) {
        throw new PySyntaxError(
          "bytes literals are not supported",
          start,
          "remove the b prefix",
        );
      }
      advance(prefix?.length ?? 0);
      push("string", readString(lower.includes("r")), start);
      continue;
    }
    if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(chars[i + 1] ?? ""))) {
      const rest = chars.slice(i, i + 64).join("");
      const match =
        /^(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(\d[\d_]*)?\.?\d[\d_]*([eE][+-]?\d+)?|\d[\d_]*\.)/
          .exec(rest);
      const text = match![0];
      advance(text.length);
      if (/^[A-Za-z_]/.test(chars[i] ?? "")) {
        throw new PySyntaxError(`invalid number "${text}${chars[i]}"`, start);
      }
      push("number", text, start);
      continue;
    }
    if (/[\p{L}\p{Nl}_]/u.test(c)) {
      let text = "";
      while (
        i < chars.length && /[\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}_]/u.test(chars[i]!)
      ) {
        text += chars[i];
        advance();
      }
      push("name", text, start);
      continue;
    }
    const op = OPERATORS.find((o) =>
      chars.slice(i, i + o.length).join("") === o
    );
    if (!op) {
      throw new PySyntaxError(`unexpected character "${c}"`, start);
    }
    advance(op.length);
    if ("([{".includes(op)) depth++;
    if (")]}".includes(op)) depth = Math.max(0, depth - 1);
    push("op", op, start);
  }
  const last = tokens[tokens.length - 1];
  if (last && last.kind !== "newline" && depth === 0) {
    tokens.push({ kind: "newline", value: "\n", start: here(), end: here() });
  }
  tokens.push({ kind: "eof", value: "", start: here(), end: here() });
  return tokens;

  /** Reads a string literal from its opening quote; returns its decoded value. */
  function readString(raw: boolean): string {
    const start = here();
    const quote = chars[i]!;
    const triple = chars[i + 1] === quote && chars[i + 2] === quote;
    advance(triple ? 3 : 1);
    let out = "";
    for (;;) {
      const ch = chars[i];
      if (ch === undefined || (!triple && ch === "\n")) {
        throw new PySyntaxError(
          "unterminated string",
          start,
          `close it with ${quote.repeat(triple ? 3 : 1)}`,
        );
      }
      if (
        ch === quote &&
        (!triple || (chars[i + 1] === quote && chars[i + 2] === quote))
      ) {
        advance(triple ? 3 : 1);
        return out;
      }
      if (ch !== "\\") {
        out += ch;
        advance();
        continue;
      }
      const next = chars[i + 1];
      if (raw) {
        out += ch + (next ?? "");
        advance(next === undefined ? 1 : 2);
        continue;
      }
      out += readEscape();
    }
  }

  /** Reads one backslash escape (at the backslash) and returns what it stands for. */
  function readEscape(): string {
    const at = here();
    const next = chars[i + 1];
    if (next === undefined) {
      throw new PySyntaxError("unterminated string", at);
    }
    if (next === "\n") {
      advance(2);
      return "";
    }
    if (next in SIMPLE_ESCAPES) {
      advance(2);
      return SIMPLE_ESCAPES[next]!;
    }
    if (/[0-7]/.test(next)) {
      const digits = /^[0-7]{1,3}/.exec(chars.slice(i + 1, i + 4).join(""))![0];
      advance(1 + digits.length);
      return String.fromCodePoint(parseInt(digits, 8));
    }
    const width = next === "x" ? 2 : next === "u" ? 4 : next === "U" ? 8 : 0;
    if (width) {
      const hex = chars.slice(i + 2, i + 2 + width).join("");
      if (!new RegExp(`^[0-9a-fA-F]{${width}}$`).test(hex)) {
        throw new PySyntaxError(
          `invalid \\${next} escape: needs ${width} hex digits`,
          at,
          `write \\${next}${"0".repeat(width - 1)}41 for "A"`,
        );
      }
      const code = parseInt(hex, 16);
      if (code > 0x10ffff) {
        throw new PySyntaxError(`invalid \\U escape: beyond U+10FFFF`, at);
      }
      advance(2 + width);
      return String.fromCodePoint(code);
    }
    if (next === "N") {
      throw new PySyntaxError(
        "\\N{...} escapes are not supported",
        at,
        "write the character itself or a \\u escape",
      );
    }
    // Python keeps an unknown escape as it is (backslash included).
    advance(2);
    return "\\" + next;
  }
}
