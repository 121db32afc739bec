/**
 * The confirmation form's CSRF field: base64url HMAC-SHA256 of the token (with a fixed context prefix)
 * under the secret of the key that signed the token, so the field is bound to the token (and its button).
 *
 * @module
 */
import type { ActionKey } from "./tokens.ts";

const CSRF_CONTEXT = new TextEncoder().encode("blitz action csrf v1\0");

/** Imported HMAC keys by secret, so each secret is imported once. */
const csrfKeys = new Map<string, Promise<CryptoKey>>();

/** The HMAC-SHA256 key of a secret, imported once. */
function csrfKey(secret: string): Promise<CryptoKey> {
  let key = csrfKeys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      [
        "sign",
        "verify",
      ],
    );
    csrfKeys.set(secret, key);
  }
  return key;
}

/** What the MAC covers: the context prefix, then the token. */
function csrfInput(token: string): Uint8Array<ArrayBuffer> {
  const text = new TextEncoder().encode(token);
  const out = new Uint8Array(CSRF_CONTEXT.length + text.length);
  out.set(CSRF_CONTEXT);
  out.set(text, CSRF_CONTEXT.length);
  return out;
}

/** The CSRF field value for a token: base64url HMAC-SHA256 of the token with the signing key's secret. */
export async function csrfFor(token: string, key: ActionKey): Promise<string> {
  const mac = new Uint8Array(
    await crypto.subtle.sign(
      "HMAC",
      await csrfKey(key.secret),
      csrfInput(token),
    ),
  );
  return btoa(String.fromCharCode(...mac)).replaceAll("+", "-").replaceAll(
    "/",
    "_",
  ).replace(/=+$/, "");
}

/** Checks a submitted CSRF field in constant time (crypto.subtle.verify). */
export async function csrfValid(
  value: string,
  token: string,
  key: ActionKey,
): Promise<boolean> {
  // Canonical base64url of 32 bytes only: the last character carries 4 bits and 2 zero padding bits,
  // so a value that differs only in those padding bits is refused rather than decoded to the same MAC.
  if (!/^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/.test(value)) return false;
  const mac = Uint8Array.from(
    atob(value.replaceAll("-", "+").replaceAll("_", "/")),
    (ch) => ch.charCodeAt(0),
  );
  return await crypto.subtle.verify(
    "HMAC",
    await csrfKey(key.secret),
    mac,
    csrfInput(token),
  );
}
