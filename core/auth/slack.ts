/**
 * Slack request signing (SECURITY.md 19): `X-Slack-Signature: v0=<hex HMAC-SHA256 of
 * "v0:{X-Slack-Request-Timestamp}:{raw body}">` keyed with the app's signing secret. The timestamp is
 * checked first (older or newer than 5 minutes: refused, a replayed request), from its header alone, so
 * a stale request is refused before its body is read; then the MAC, compared in constant time against
 * each configured secret.
 *
 * @module
 */
import { createHmac } from "node:crypto";
import { timingSafeEqual } from "./auth.ts";

/** How far a request's timestamp may be from now: 5 minutes, as Slack recommends. */
export const SLACK_MAX_AGE_S = 300;

/** Whether the timestamp header is within {@link SLACK_MAX_AGE_S} of `nowMs`. */
export function slackTimestampFresh(
  timestamp: string | undefined,
  nowMs: number,
): boolean {
  if (!timestamp || !/^\d{1,12}$/.test(timestamp)) return false;
  return Math.abs(nowMs / 1000 - Number(timestamp)) <= SLACK_MAX_AGE_S;
}

/** `v0=<hex>`: the signature Slack sends for `body` at `timestamp`. */
export function slackSignature(
  secret: string,
  timestamp: string,
  body: Uint8Array | string,
): string {
  return `v0=${
    createHmac("sha256", secret).update(`v0:${timestamp}:`).update(body)
      .digest("hex")
  }`;
}

/**
 * The index of the secret that signed `body`, or -1. Every secret is tried (no early exit), each
 * comparison constant-time.
 */
export function slackSigner(
  secrets: readonly string[],
  request: { timestamp: string; signature: string; body: Uint8Array },
): number {
  const given = new TextEncoder().encode(request.signature);
  let found = -1;
  secrets.forEach((secret, i) => {
    const expected = new TextEncoder().encode(
      slackSignature(secret, request.timestamp, request.body),
    );
    if (timingSafeEqual(given, expected) && found === -1) found = i;
  });
  return found;
}
