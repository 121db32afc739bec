/**
 * What the action token and the CSRF field share: the HMAC-SHA256 key of a secret (imported once per
 * secret) and base64url without padding, strictly decoded.
 *
 * @module
 */

const keys = new Map<string, Promise<CryptoKey>>();

/** The HMAC-SHA256 key (sign and verify) of a secret, imported once. */
export function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
    keys.set(secret, key);
  }
  return key;
}

/** base64url without padding. */
export function encodeBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(
    /=+$/,
    "",
  );
}

/** Strict decoding: only the base64url alphabet, no padding, and only the canonical encoding of the bytes. */
export function decodeBase64Url(
  text: string,
): Uint8Array<ArrayBuffer> | undefined {
  if (
    typeof text !== "string" || text.length > 4096 ||
    !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1
  ) {
    return undefined;
  }
  let binary: string;
  try {
    binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  } catch {
    return undefined;
  }
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return encodeBase64Url(bytes) === text ? bytes : undefined;
}
