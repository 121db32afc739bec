/**
 * Signed one-click action tokens for the reply buttons of an alert email.
 *
 * A token is a compact binary payload, base64url-encoded, followed by its HMAC-SHA256:
 *
 * | bytes    | field                                                                      |
 * |----------|----------------------------------------------------------------------------|
 * | 1        | version (1)                                                                |
 * | 1 + n    | key id, length-prefixed UTF-8                                              |
 * | 1 + 16   | alert id: flag 0 and the 16 bytes of a lowercase UUID, or                  |
 * | 1 + 2 + n|   flag 1 and uint16 length-prefixed UTF-8                                  |
 * | 1        | button index (0-255)                                                       |
 * | 4        | button tag: first 4 bytes of SHA-256 of the button label                   |
 * | 4        | expiry, uint32 epoch seconds                                               |
 * | 16       | random nonce                                                               |
 * | 32       | HMAC-SHA256 of all preceding bytes, with the key's secret as UTF-8         |
 *
 * Verification checks expiry first, then the key id, then the MAC (`crypto.subtle.verify`, constant time).
 *
 * @module
 */
import { decodeBase64Url, encodeBase64Url, hmacKey } from "./_hmac.ts";

/** A signing key: `id` travels in the token so keys can rotate. */
export interface ActionKey {
  id: string;
  secret: string;
}

/** What a token says, once parsed. */
export interface TokenClaims {
  /** Payload format version. */
  v: number;
  /** Id of the key that signed the token. */
  kid: string;
  alertId: string;
  /** Index of the reply button in the detector's `actions.reply`. */
  button: number;
  /** Hex of the first 4 bytes of SHA-256 of the button label when the token was made. */
  buttonTag: string;
  /** Epoch milliseconds, whole seconds. */
  expiresAt: number;
  /** Base64url of 16 random bytes; the single-use key. */
  nonce: string;
}

/** Why a token was refused. */
export type ActionTokenErrorCode =
  | "malformed"
  | "bad_signature"
  | "unknown_key"
  | "expired";

/** A token that cannot be used; `code` says why. */
export class ActionTokenError extends Error {
  override name = "ActionTokenError";
  readonly code: ActionTokenErrorCode;
  /** The parsed but unverified claims, set for `expired` so the page can say what expired. */
  readonly claims?: TokenClaims;

  constructor(
    code: ActionTokenErrorCode,
    message: string,
    options?: ErrorOptions & { claims?: TokenClaims },
  ) {
    super(message, options);
    this.code = code;
    if (options?.claims) this.claims = options.claims;
  }
}

const VERSION = 1;
const NONCE_BYTES = 16;
const MAC_BYTES = 32;
const TAG_BYTES = 4;
const ALERT_UUID = 0;
const ALERT_TEXT = 1;
const UUID_PATTERN =
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/** Signs a token for one reply button of one alert with the first key. */
export async function signActionToken(
  input: {
    alertId: string;
    button: number;
    buttonLabel: string;
    expiresAt: number;
  },
  key: ActionKey,
): Promise<string> {
  const { alertId, button, buttonLabel, expiresAt } = input;
  const kid = encoder.encode(key.id);
  if (kid.length === 0 || kid.length > 255) {
    throw new RangeError("Key id must be 1 to 255 bytes");
  }
  if (!Number.isInteger(button) || button < 0 || button > 255) {
    throw new RangeError("Button index must be an integer from 0 to 255");
  }
  const seconds = Math.floor(expiresAt / 1000);
  if (!Number.isFinite(seconds) || seconds < 0 || seconds > 0xffffffff) {
    throw new RangeError(
      "Expiry must be an epoch time in milliseconds before 2106",
    );
  }
  const alert = encodeAlertId(alertId);
  const tag = await labelTag(buttonLabel);
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));

  const payload = new Uint8Array(
    1 + 1 + kid.length + alert.length + 1 + TAG_BYTES + 4 + NONCE_BYTES,
  );
  const view = new DataView(payload.buffer);
  let at = 0;
  payload[at++] = VERSION;
  payload[at++] = kid.length;
  payload.set(kid, at);
  at += kid.length;
  payload.set(alert, at);
  at += alert.length;
  payload[at++] = button;
  payload.set(tag, at);
  at += TAG_BYTES;
  view.setUint32(at, seconds);
  at += 4;
  payload.set(nonce, at);

  const mac = new Uint8Array(
    await crypto.subtle.sign("HMAC", await hmacKey(key.secret), payload),
  );
  const token = new Uint8Array(payload.length + MAC_BYTES);
  token.set(payload);
  token.set(mac, payload.length);
  return encodeBase64Url(token);
}

/** Verifies: parse → expiry first (→ "expired") → key id known (→ "unknown_key") → HMAC via crypto.subtle.verify (→ "bad_signature"). */
export async function verifyActionToken(
  token: string,
  keys: ActionKey[],
  options?: { now?: number },
): Promise<TokenClaims> {
  const { claims, payload, mac } = parseToken(token);
  const now = options?.now ?? Date.now();
  if (now >= claims.expiresAt) {
    throw new ActionTokenError("expired", "Action link has expired", {
      claims,
    });
  }
  const key = keys.find((k) => k.id === claims.kid);
  if (!key) {
    throw new ActionTokenError(
      "unknown_key",
      "Action link was signed with an unknown or retired key",
    );
  }
  const ok = await crypto.subtle.verify(
    "HMAC",
    await hmacKey(key.secret),
    mac,
    payload,
  );
  if (!ok) {
    throw new ActionTokenError(
      "bad_signature",
      "Action link signature is invalid",
    );
  }
  return claims;
}

/** True when the token's button tag matches this label (the config may have changed since the email). */
export async function buttonTagMatches(
  claims: TokenClaims,
  label: string,
): Promise<boolean> {
  return toHex(await labelTag(label)) === claims.buttonTag;
}

function parseToken(
  token: string,
): {
  claims: TokenClaims;
  payload: Uint8Array<ArrayBuffer>;
  mac: Uint8Array<ArrayBuffer>;
} {
  const bytes = decodeBase64Url(token);
  const malformed = () =>
    new ActionTokenError("malformed", "Action link is malformed");
  if (!bytes || bytes.length < 2 + MAC_BYTES) throw malformed();
  const end = bytes.length - MAC_BYTES;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const need = (n: number) => {
    if (at + n > end) throw malformed();
  };
  try {
    const v = bytes[at++]!;
    if (v !== VERSION) throw malformed();
    const kidLength = bytes[at++]!;
    if (kidLength === 0) throw malformed();
    need(kidLength);
    const kid = strictDecoder.decode(bytes.subarray(at, at + kidLength));
    at += kidLength;
    need(1);
    const flag = bytes[at++]!;
    let alertId: string;
    if (flag === ALERT_UUID) {
      need(16);
      alertId = uuidFromBytes(bytes.subarray(at, at + 16));
      at += 16;
    } else if (flag === ALERT_TEXT) {
      need(2);
      const length = view.getUint16(at);
      at += 2;
      need(length);
      alertId = strictDecoder.decode(bytes.subarray(at, at + length));
      at += length;
    } else {
      throw malformed();
    }
    need(1 + TAG_BYTES + 4 + NONCE_BYTES);
    const button = bytes[at++]!;
    const buttonTag = toHex(bytes.subarray(at, at + TAG_BYTES));
    at += TAG_BYTES;
    const expiresAt = view.getUint32(at) * 1000;
    at += 4;
    const nonce = encodeBase64Url(bytes.subarray(at, at + NONCE_BYTES));
    at += NONCE_BYTES;
    if (at !== end) throw malformed();
    return {
      claims: { v, kid, alertId, button, buttonTag, expiresAt, nonce },
      payload: bytes.slice(0, end),
      mac: bytes.slice(end),
    };
  } catch (err) {
    if (err instanceof ActionTokenError) throw err;
    throw new ActionTokenError("malformed", "Action link is malformed", {
      cause: err,
    });
  }
}

function encodeAlertId(alertId: string): Uint8Array {
  if (UUID_PATTERN.test(alertId)) {
    const out = new Uint8Array(17);
    out[0] = ALERT_UUID;
    const hex = alertId.replaceAll("-", "");
    for (let i = 0; i < 16; i++) {
      out[i + 1] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
    }
    return out;
  }
  const text = encoder.encode(alertId);
  if (text.length > 0xffff) {
    throw new RangeError("Alert id must be at most 65535 bytes");
  }
  const out = new Uint8Array(3 + text.length);
  out[0] = ALERT_TEXT;
  new DataView(out.buffer).setUint16(1, text.length);
  out.set(text, 3);
  return out;
}

function uuidFromBytes(bytes: Uint8Array): string {
  const hex = toHex(bytes);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${
    hex.slice(16, 20)
  }-${hex.slice(20)}`;
}

async function labelTag(label: string): Promise<Uint8Array> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(label));
  return new Uint8Array(digest, 0, TAG_BYTES);
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
