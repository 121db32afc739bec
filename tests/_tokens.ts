/**
 * The bytes of an action token, for tests that tamper with one: decode it, change or splice bytes,
 * encode it again (base64url without padding, as `signActionToken()` writes it).
 *
 * @example
 * ```ts
 * const bytes = decodeToken(token);
 * bytes[5]! ^= 0x01;
 * const tampered = encodeToken(bytes);
 * ```
 *
 * @module
 */

/** The bytes a base64url token encodes. */
export function decodeToken(token: string): Uint8Array {
  return Uint8Array.from(
    atob(token.replaceAll("-", "+").replaceAll("_", "/")),
    (c) => c.charCodeAt(0),
  );
}

/** Bytes as an unpadded base64url token. */
export function encodeToken(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll(
    "/",
    "_",
  ).replace(/=+$/, "");
}
