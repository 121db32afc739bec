/**
 * The confirmation form's CSRF field: base64url HMAC-SHA256 of the token (with a fixed context prefix)
 * under the secret of the key that signed the token, so the field is bound to the token (and its button).
 *
 * @module
 */
import type { ActionKey } from "./tokens.ts";
import { decodeBase64Url, encodeBase64Url, hmacKey } from "./_hmac.ts";

const CSRF_CONTEXT = new TextEncoder().encode("blitz action csrf v1\0");

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
      await hmacKey(key.secret),
      csrfInput(token),
    ),
  );
  return encodeBase64Url(mac);
}

/** Checks a submitted CSRF field in constant time (crypto.subtle.verify). */
export async function csrfValid(
  value: string,
  token: string,
  key: ActionKey,
): Promise<boolean> {
  // Canonical base64url of 32 bytes only: a value that differs only in the last character's padding
  // bits is refused rather than decoded to the same MAC.
  const mac = decodeBase64Url(value);
  if (!mac || mac.length !== 32) return false;
  return await crypto.subtle.verify(
    "HMAC",
    await hmacKey(key.secret),
    mac,
    csrfInput(token),
  );
}
