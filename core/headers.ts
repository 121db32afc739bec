/**
 * Guards for values that end up in an email header (SECURITY.md 17: no header injection).
 *
 * @module
 */

// \p{Cc}: C0 controls (CR, LF, TAB, NUL…), DEL and C1 controls; plus LINE and PARAGRAPH SEPARATOR.
const CONTROL = /[\p{Cc}\u2028\u2029]/gu;
const HAS_CONTROL = /[\p{Cc}\u2028\u2029]/u;
// A bare address: one @, no spaces, no angle brackets, no list separators.
const BARE_ADDRESS = /^[^\s@<>,;]+@[^\s@<>,;]+$/;
// `Display Name <address>`; the display name may be quoted.
const NAMED_ADDRESS = /^([^<>]*)<([^<>]*)>$/;

/** Strips CR, LF and other control characters (C0, DEL, C1, U+2028/2029) from a value that becomes a header; collapses runs of whitespace; trims. */
export function headerSafe(value: string): string {
  return value.replace(CONTROL, " ").replace(/\s+/g, " ").trim();
}

/** Validates one address ("a@b.c" or "Name <a@b.c>"): throws TypeError on control chars, commas inside, or missing @. Returns it trimmed. */
export function checkAddress(value: string): string {
  if (typeof value !== "string") {
    throw new TypeError(
      `Invalid address: expected a string, got ${typeof value}`,
    );
  }
  const shown = JSON.stringify(value);
  if (HAS_CONTROL.test(value)) {
    throw new TypeError(
      `Invalid address ${shown}: contains a control character`,
    );
  }
  if (/[,;]/.test(value)) {
    throw new TypeError(
      `Invalid address ${shown}: must be a single address, without commas`,
    );
  }
  const trimmed = value.trim();
  if (!trimmed.includes("@")) {
    throw new TypeError(`Invalid address ${shown}: missing @`);
  }
  const named = NAMED_ADDRESS.exec(trimmed);
  const address = named ? named[2]?.trim() ?? "" : trimmed;
  if (!BARE_ADDRESS.test(address)) {
    throw new TypeError(
      `Invalid address ${shown}: expected "a@b.c" or "Name <a@b.c>"`,
    );
  }
  if (named && !isBalancedName(named[1] ?? "")) {
    throw new TypeError(
      `Invalid address ${shown}: unbalanced quotes in the display name`,
    );
  }
  return trimmed;
}

function isBalancedName(name: string): boolean {
  const unescaped = name.replace(/\\./g, "");
  return (unescaped.match(/"/g)?.length ?? 0) % 2 === 0;
}
