/**
 * Ingest authentication: `Authorization: Bearer <token>` against several tokens (rotation), and a
 * request signature `X-Blitz-Signature` = hex HMAC-SHA256 of `timestamp + "." + body` with a
 * `X-Blitz-Timestamp` (Unix seconds) inside a window, mandatory once a secret is configured. Every comparison of a secret is constant-time:
 * a token by {@link timingSafeEqualText}, whose time depends on what was sent only (not on the
 * token's length or content), a signature as HMAC bytes with `node:crypto`'s `timingSafeEqual`.
 * Hashing is synchronous (`node:crypto`): on the ingest hot path a WebCrypto digest costs a
 * thread-pool round trip per request. Tokens were compared as SHA-256 digests before; the digest cost
 * ~4 µs of a single-alert request's CPU, the comparison of the text ~0.1.
 *
 * @module
 */
import {
  createHmac,
  timingSafeEqual as nodeTimingSafeEqual,
} from "node:crypto";

const encoder = new TextEncoder();

/** Why a request was refused; `message` is safe to send back (it never contains a secret). */
export class AuthError extends Error {
  override name = "AuthError";
}

/** Constant-time equality of two byte arrays (false at once for different lengths, which are public). */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && nodeTimingSafeEqual(a, b);
}

/**
 * Constant-time equality of a string that was sent and a secret: every code unit of `given` is
 * compared (against the secret's, cycled), with no early exit and no branch on the secret, so the time
 * depends on `given`'s length only; the lengths are part of the comparison, not a shortcut.
 */
export function timingSafeEqualText(given: string, secret: string): boolean {
  const n = secret.length;
  if (n === 0) return given.length === 0;
  let diff = given.length ^ n;
  for (let i = 0; i < given.length; i++) {
    diff |= given.charCodeAt(i) ^ secret.charCodeAt(i % n);
  }
  return diff === 0;
}

function hmac(
  secret: Uint8Array,
  timestamp: string,
  body: Uint8Array | string,
): Uint8Array {
  return createHmac("sha256", secret).update(`${timestamp}.`).update(body)
    .digest();
}

function fromHex(hex: string): Uint8Array | undefined {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return undefined;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  }
  return out;
}

/** Hex HMAC-SHA256 of `timestamp + "." + body`: what a sender puts in `X-Blitz-Signature`. */
export function signBody(
  secret: string,
  timestamp: string | number,
  body: Uint8Array | string,
): string {
  return Array.from(
    hmac(encoder.encode(secret), String(timestamp), body),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

/** The signature headers of a request (either may be missing). */
export interface SignatureHeaders {
  timestamp?: string | null | undefined;
  signature?: string | null | undefined;
}

/**
 * Checks ingest credentials. Build it once with {@link IngestAuth.create}.
 */
export class IngestAuth {
  #tokens: readonly string[];
  #hmacKey: Uint8Array | undefined;
  #windowS: number;
  #now: () => number;

  private constructor(
    tokens: readonly string[],
    hmacKey: Uint8Array | undefined,
    windowS: number,
    now: () => number,
  ) {
    this.#tokens = tokens;
    this.#hmacKey = hmacKey;
    this.#windowS = windowS;
    this.#now = now;
  }

  /** Keeps the tokens and the HMAC secret. */
  static create(
    options: {
      tokens: readonly string[];
      /**
       * Secret for `X-Blitz-Signature`: with it every request must be signed; without it a signed
       * request is refused.
       */
      hmacSecret?: string | undefined;
      /** Accepted clock skew of `X-Blitz-Timestamp`, in seconds. @default 300 */
      windowS?: number;
      /** Clock in ms. @default Date.now */
      now?: () => number;
    },
  ): IngestAuth {
    const hmacKey = options.hmacSecret === undefined
      ? undefined
      : encoder.encode(options.hmacSecret);
    return new IngestAuth(
      [...options.tokens],
      hmacKey,
      options.windowS ?? 300,
      options.now ?? Date.now,
    );
  }

  /** True when a signature secret is configured. */
  get signing(): boolean {
    return this.#hmacKey !== undefined;
  }

  /**
   * Checks an `Authorization` header value and returns the index of the matching token (a label safe to
   * log and to rate-limit by); throws AuthError otherwise. Every configured token is compared.
   */
  bearer(header: string | null | undefined): number {
    if (!header) {
      throw new AuthError(
        'Missing credentials: send "Authorization: Bearer <token>"',
      );
    }
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (!match) {
      throw new AuthError(
        'Malformed Authorization header: expected "Bearer <token>"',
      );
    }
    const given = match[1]!;
    let found = -1;
    for (let i = 0; i < this.#tokens.length; i++) {
      if (timingSafeEqualText(given, this.#tokens[i]!) && found === -1) {
        found = i;
      }
    }
    if (found === -1) throw new AuthError("Invalid token");
    return found;
  }

  /**
   * Verifies the signature over `timestamp + "." + body`. With a secret configured the signature is
   * mandatory: true when the request carries a valid one, AuthError for a missing, bad or stale one.
   * Without a secret: false for an unsigned request, AuthError for a signed one.
   */
  verifySignature(
    headers: SignatureHeaders,
    body: Uint8Array,
    now: number = this.#now(),
  ): boolean {
    const { timestamp, signature } = headers;
    if (!timestamp && !signature) {
      if (!this.#hmacKey) return false;
      throw new AuthError(
        'Missing signature: this server requires signed requests (ingest_hmac_secret is set): send X-Blitz-Timestamp (Unix seconds) and X-Blitz-Signature (hex HMAC-SHA256 of timestamp + "." + body)',
      );
    }
    if (!timestamp) {
      throw new AuthError(
        "X-Blitz-Signature needs an X-Blitz-Timestamp header (Unix seconds)",
      );
    }
    if (!signature) {
      throw new AuthError(
        "X-Blitz-Timestamp needs an X-Blitz-Signature header",
      );
    }
    if (!this.#hmacKey) {
      throw new AuthError(
        "The request is signed but this server has no ingest_hmac_secret: remove the signature headers",
      );
    }
    if (!/^\d{1,12}$/.test(timestamp)) {
      throw new AuthError(
        "X-Blitz-Timestamp must be Unix time in whole seconds",
      );
    }
    if (Math.abs(now / 1000 - Number(timestamp)) > this.#windowS) {
      throw new AuthError(
        `X-Blitz-Timestamp is more than ${this.#windowS} s away from the server's clock`,
      );
    }
    const mac = fromHex(signature.replace(/^sha256=/i, ""));
    if (!mac || mac.length !== 32) {
      throw new AuthError(
        "X-Blitz-Signature must be 64 hex digits (HMAC-SHA256)",
      );
    }
    if (!timingSafeEqual(mac, hmac(this.#hmacKey, timestamp, body))) {
      throw new AuthError(
        'Invalid X-Blitz-Signature: sign timestamp + "." + the exact body bytes',
      );
    }
    return true;
  }
}
