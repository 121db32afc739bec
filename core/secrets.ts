/**
 * Secrets: `${env:NAME}` substitution in config, and redaction of every substituted value (and of
 * credentials in URLs) from anything Blitz writes to logs, records, emails and error messages.
 *
 * Derived forms are secrets too: a registered value is also hidden percent-encoded (as a URL or a form
 * carries it) and JSON-escaped, and any base64 or base64url run in a text whose decoding holds a secret
 * is hidden whole. That covers an `Authorization: Basic base64(user:token)` header a remote system (or a
 * proxy) echoes in its error, whatever the user name, and SASL `AUTH PLAIN` lines.
 *
 * @module
 */
import { errorMessage } from "./errors.ts";

const known = new Set<string>();
let pattern: RegExp | undefined;
/** The same secrets, to test a decoded base64 run (no `g` flag: `test` keeps no state). */
let probe: RegExp | undefined;

/** How much of a remote system's error message is kept (pages, follow-up emails, the store). */
export const MAX_ERROR_CHARS = 300;

/**
 * Marks a value as secret so `redact()` hides it, with its percent-encoded and JSON-escaped forms;
 * values shorter than 4 characters are ignored.
 */
export function registerSecret(value: string): void {
  if (value.length < 4 || known.has(value)) return;
  const forms = [value, JSON.stringify(value).slice(1, -1)];
  try {
    const encoded = encodeURIComponent(value);
    forms.push(
      encoded,
      encoded.replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase()),
      encoded.replaceAll("%20", "+"),
    );
  } catch {
    // a lone surrogate has no percent-encoding (encodeURIComponent throws): nothing sends it that way
  }
  for (const form of forms) {
    known.add(form);
    if (base64Cores(form).some((core) => HEX_BASE64.test(core))) {
      hexRunsMayHide = true;
    }
    if (HEX_RUN_CHARS.test(form)) hexFormsKnown = true;
  }
  pattern = undefined;
  probe = undefined;
  shortest = Math.min(shortest, ...forms.map((f) => f.length));
  redacted.clear();
  version++;
}

let version = 0;

/** Bumped by every secret registered: what a cache of redacted texts compares to know it is stale. */
export function secretsVersion(): number {
  return version;
}

/**
 * Characters of the shortest registered form: a base64 run decoding to fewer characters cannot hold
 * a secret (a run of n characters decodes to at most ⌊3n/4⌋ bytes, hence characters), so it is not
 * decoded at all.
 */
let shortest = Infinity;

/**
 * Results of `redact` for short texts, which repeat (log keys, event names, detector names, levels):
 * cleared whenever a secret is registered, and when it is full.
 */
const redacted = new Map<string, string>();
const CACHED_CHARS = 64;
const CACHED_TEXTS = 4096;

/**
 * False while no registered form can be hidden in a base64 run of lowercase hex digits and dashes
 * (such as an alert id, a UUID: one run, as `-` is base64url), so such a run is not decoded at all:
 * decoding the fresh id of every `accepted` log line was most of the line's cost. A run holds a form
 * decoded only if it holds one of the form's three cores (see {@link base64Cores}); a form is flagged
 * when a core is made of such characters only (`-` reads as `+`). Rare: "oGvwoz{M6" is one.
 */
let hexRunsMayHide = false;
/**
 * True once a registered form is itself made of a hex run's characters only: no other form can be
 * found in such a run, so an id is returned as it is without a search for the secrets (one regular
 * expression over every `accepted` log line's id otherwise).
 */
let hexFormsKnown = false;
const HEX_RUN_CHARS = /^[0-9a-f=-]+$/;
/** A base64 text (std alphabet) whose characters a hex-and-dash run can have. */
const HEX_BASE64 = /^[0-9a-f+]+$/;
/** A run of lowercase hex digits and dashes (with base64 padding when it is a run in a text). */
const HEX_RUN = /^[0-9a-f-]+=*$/;

/**
 * The base64 characters every encoding of `form`'s UTF-8 bytes contains, one string for each of the
 * three offsets (mod 3) the bytes can start at in decoded data: the characters all of whose six bits
 * come from the form (those at its edges mix in neighbouring bytes).
 */
function base64Cores(form: string): string[] {
  const bytes = new TextEncoder().encode(form);
  return [0, 1, 2].map((offset) => {
    let binary = "\0".repeat(offset);
    for (const b of bytes) binary += String.fromCharCode(b);
    const first = Math.ceil((8 * offset) / 6);
    const end = Math.floor((8 * (offset + bytes.length)) / 6);
    return btoa(binary).slice(first, end);
  });
}

/** Runs that may be base64 or base64url (8 characters at least, as `dXNlcjpw` is `user:p`). */
const BASE64_RUN = /[A-Za-z0-9+/_-]{8,}={0,2}/g;
const utf8 = new TextDecoder("utf-8", { fatal: false });

function decodeBase64Run(run: string): string | undefined {
  let b64 = run.replace(/=+$/, "").replaceAll("-", "+").replaceAll("_", "/");
  if (b64.length % 4 === 1) b64 = b64.slice(0, -1);
  b64 += "=".repeat((4 - b64.length % 4) % 4);
  try {
    const binary = atob(b64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Replaces registered secrets and `user:password@` URL credentials in text with `[redacted]`. */
export function redact(text: string): string {
  if (text.length > CACHED_CHARS) return redactNow(text);
  // An id (hex digits and dashes): it never repeats, so it is not cached (a miss and an insert cost
  // more than the rest); no URL credentials, and unless `hexRunsMayHide` no base64 form, can be in it.
  if (!hexRunsMayHide && HEX_RUN.test(text)) {
    return hexFormsKnown ? text.replace(secretsPattern(), "[redacted]") : text;
  }
  let out = redacted.get(text);
  if (out === undefined) {
    out = redactNow(text);
    if (redacted.size >= CACHED_TEXTS) redacted.clear();
    redacted.set(text, out);
  }
  return out;
}

/** Every registered form, longest first (a longer secret that contains a shorter one is hidden whole). */
function secretsPattern(): RegExp {
  return pattern ??= new RegExp(
    [...known].sort((a, b) => b.length - a.length).map(escapeRegExp).join("|"),
    "g",
  );
}

function redactNow(text: string): string {
  if (known.size > 0) {
    text = text.replace(secretsPattern(), "[redacted]");
    probe ??= new RegExp(secretsPattern().source);
    const secrets = probe;
    text = text.replace(BASE64_RUN, (run) => {
      if (Math.floor((run.length * 3) / 4) < shortest) return run;
      if (!hexRunsMayHide && HEX_RUN.test(run)) return run;
      const decoded = decodeBase64Run(run);
      return decoded !== undefined && secrets.test(decoded)
        ? "[redacted]"
        : run;
    });
  }
  return text.replace(
    /(\b[a-z][a-z0-9+.-]*:\/\/)([^/\s:@]*):([^/\s@]*)@/gi,
    "$1$2:[redacted]@",
  );
}

/**
 * What a failure may say to people and to the store: its one-line message, secrets redacted (first, so
 * the cut never leaves half a secret), at most {@link MAX_ERROR_CHARS} characters. A remote system's
 * error body is its to fill: this caps what it can carry.
 */
export function publicError(err: unknown, max = MAX_ERROR_CHARS): string {
  return capText(redact(errorMessage(err)), max);
}

/** `text` cut to `max` characters (an ellipsis marks the cut, never splitting a surrogate pair). */
export function capText(text: string, max = MAX_ERROR_CHARS): string {
  if (text.length <= max) return text;
  let cut = max - 1;
  const last = text.charCodeAt(cut - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut--;
  return `${text.slice(0, cut)}…`;
}

/** Registers the `sig=` (and other signature-like) query values of a URL (a Teams webhook's) as secrets. */
export function registerUrlSecrets(url: string): void {
  try {
    for (const [key, value] of new URL(url).searchParams) {
      if (/^(sig|signature|code|token|key)$/i.test(key)) registerSecret(value);
    }
  } catch {
    // not a URL: the schema reports it
  }
}

/** Redacts secrets in every string of a JSON-like value (for records and emails). */
export function redactDeep<T>(value: T): T {
  if (typeof value === "string") return redact(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v)) as T;
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v);
    return out as T;
  }
  return value;
}

const ENV_REF = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * Replaces `${env:NAME}` in every string of a parsed config value. Each substituted value is
 * registered as a secret. Missing variables are reported through `onMissing` with the value's path.
 */
export function substituteEnv(
  value: unknown,
  options: {
    env: (name: string) => string | undefined;
    onMissing: (name: string, path: string) => void;
  },
  path = "",
): unknown {
  if (typeof value === "string") {
    return value.replace(ENV_REF, (ref, name: string) => {
      const found = options.env(name);
      if (found === undefined) {
        options.onMissing(name, path);
        return ref;
      }
      registerSecret(found);
      return found;
    });
  }
  if (Array.isArray(value)) {
    return value.map((v, i) => substituteEnv(v, options, `${path}[${i}]`));
  }
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = substituteEnv(v, options, path ? `${path}.${k}` : k);
    }
    return out;
  }
  return value;
}
