/**
 * Guards for values that end up in an email header (SECURITY.md 17: no header injection).
 *
 * @module
 */
import addressparser from "nodemailer/lib/addressparser";

interface ParsedAddress {
  name?: string;
  address?: string;
  group?: ParsedAddress[];
}
const parseAddressesUncached = addressparser as unknown as (
  value: string,
) => ParsedAddress[];

/**
 * A small memo for the address parser and the domain conversion: every alert of a detector has the same
 * From and To, and parsing them (nodemailer's tokenizer, a URL for the domain) twice per message was
 * ~0.03 ms per alert under a burst. Cleared when full; the values are never mutated by their users.
 */
function memo<T>(compute: (key: string) => T): (key: string) => T {
  const cache = new Map<string, T>();
  return (key) => {
    let value = cache.get(key);
    if (value === undefined) {
      if (cache.size >= 1000) cache.clear();
      value = compute(key);
      cache.set(key, value);
    }
    return value;
  };
}

const parseAddresses = memo((value): readonly Readonly<ParsedAddress>[] =>
  Object.freeze(parseAddressesUncached(value).map((a) => Object.freeze(a)))
);

// \p{Cc}: C0 controls (CR, LF, TAB, NUL…), DEL and C1 controls; plus LINE and PARAGRAPH SEPARATOR.
const CONTROL = /[\p{Cc}\u2028\u2029]/gu;
const HAS_CONTROL = /[\p{Cc}\u2028\u2029]/u;
// A bare address: one @, no spaces, no angle brackets, no list separators.
const BARE_ADDRESS = /^[^\s@<>,;]+@[^\s@<>,;]+$/;

/**
 * Bidirectional controls: embeddings and overrides (U+202A–U+202E), isolates (U+2066–U+2069) and the
 * marks (U+200E, U+200F, U+061C). `invoice\u202efdp.exe` displays as `invoiceexe.pdf`.
 */
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;
/** {@link BIDI}'s test: every one of them is a single UTF-16 unit, so no `u` (~10× faster per string). */
const HAS_BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/**
 * Strips CR, LF and other control characters (C0, DEL, C1, U+2028/2029) from a value that becomes a
 * header, and the bidirectional controls (a subject shows what it says); collapses runs of whitespace;
 * trims.
 */
export function headerSafe(value: string): string {
  return value.replace(CONTROL, " ").replace(BIDI, "").replace(/\s+/g, " ")
    .trim();
}

/** Shows each bidirectional control in a text as a visible mark, `[U+202E]`, instead of obeying it. */
export function markBidi(text: string): string {
  // Most texts hold none: one test instead of a replace (the emails mark every string of their model).
  if (!HAS_BIDI.test(text)) return text;
  return text.replace(
    BIDI,
    (ch) =>
      `[U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}]`,
  );
}

/** One mailbox split by nodemailer's address parser: the display name (unquoted, unescaped) and `local@domain`. */
export interface Mailbox {
  name: string;
  address: string;
}

/** The quoted strings of a header value taken out, so what is left is its structure. */
function unquoted(value: string): string {
  return value.replace(/"(?:[^"\\]|\\.)*"/g, "Q");
}

/**
 * Validates one address ("a@b.c", "Name <a@b.c>", '"Doe, Jane" <a@b.c>'): throws TypeError on control
 * characters, several addresses, a missing or malformed `local@domain`, or unbalanced quotes. A comma
 * or semicolon is allowed only inside a quoted display name. Returns it trimmed.
 */
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
  const trimmed = value.trim();
  const structure = unquoted(trimmed);
  if (structure.includes('"')) {
    throw new TypeError(
      `Invalid address ${shown}: unbalanced quotes in the display name`,
    );
  }
  if (/[,;]/.test(structure)) {
    throw new TypeError(
      `Invalid address ${shown}: must be a single address; a display name with a comma is quoted: '"Doe, Jane" <jane@example.org>'`,
    );
  }
  if (!trimmed.includes("@")) {
    throw new TypeError(
      `Invalid address ${shown}: missing @, not an email address (expected "a@b.c" or "Name <a@b.c>")`,
    );
  }
  const named = /^[^<>()]*<[^<>]*>$/.test(structure);
  const parsed = parseAddresses(trimmed);
  const address = parsed.length === 1 && !parsed[0]!.group
    ? parsed[0]!.address ?? ""
    : "";
  if (
    (!named && /[<>()]|\s/.test(structure)) || !BARE_ADDRESS.test(address)
  ) {
    throw new TypeError(
      `Invalid address ${shown}: expected "a@b.c" or "Name <a@b.c>"`,
    );
  }
  return trimmed;
}

/** The display name and bare address of a checked address (nodemailer's address parser). */
export function parseMailbox(address: string): Mailbox {
  const [first] = parseAddresses(address.trim());
  return { name: first?.name ?? "", address: first?.address ?? address.trim() };
}

/**
 * A domain in its ASCII form (IDNA: `bücher.de` → `xn--bcher-kva.de`), lower-cased; one that is not a
 * host name (an address literal, say) is only lower-cased. Envelope and headers use the same form.
 */
export function asciiDomain(domain: string): string {
  return asciiDomainMemo(domain);
}

const asciiDomainMemo = memo((domain) => {
  try {
    return new URL(`http://${domain}/`).hostname;
  } catch {
    return domain.toLowerCase();
  }
});
