/**
 * Retry or fail: the one decision after a failed delivery attempt, for the CLI path (a failure is
 * recorded as "retry" for `serve`) and the serve queue alike. Which failures are worth retrying (SMTP
 * replies and connection errors, `smtpFailureIsTransient`), how long to wait (`backoffMs`: exponential
 * from `delivery.backoff`, capped, with jitter) and the decision itself (`retryOrFail`), on the clock
 * the caller passes (the runtime's).
 *
 * @module
 */

/** The `delivery` settings the decision reads (`config.global.delivery`). */
export interface RetryPolicy {
  /** Attempts before giving up. */
  max_attempts: number;
  /** Wait before the second attempt, in ms; doubles per attempt. */
  backoff: number;
  /** The longest wait, in ms. */
  max_backoff: number;
}

/** What to do after a failed attempt: give up, or try again at `nextAttemptAt` (ISO time). */
export type RetryDecision =
  | { final: true }
  | { final: false; nextAttemptAt: string };

const TRANSIENT_CODES = new Set([
  "ECONNECTION",
  "ETIMEDOUT",
  "ESOCKET",
  "EDNS",
  "ETLS",
  "EPROXY",
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);

/**
 * Whether an SMTP failure may succeed later: a 4xx reply (and 503, a session problem), or a connection,
 * TLS or DNS error; other 5xx replies are refused for good.
 */
export function smtpFailureIsTransient(
  failure: { code?: string | undefined; responseCode?: number | undefined },
): boolean {
  const { code, responseCode } = failure;
  if (responseCode !== undefined) {
    // 4xx: try again later; 5xx: refused for good, except 503 (bad command sequence, a session problem).
    return responseCode < 500 || responseCode === 503;
  }
  return code !== undefined && TRANSIENT_CODES.has(code);
}

/**
 * After failed attempt number `attempts` (1 for the first): final when the failure is permanent or the
 * attempts are used up, else the next attempt after {@linkcode backoffMs} from `now`.
 */
export function retryOrFail(
  policy: RetryPolicy,
  failure: { attempts: number; transient: boolean; now: Date },
): RetryDecision {
  if (!failure.transient || failure.attempts >= policy.max_attempts) {
    return { final: true };
  }
  return {
    final: false,
    nextAttemptAt: new Date(
      failure.now.getTime() + backoffMs(policy, failure.attempts),
    ).toISOString(),
  };
}

/** Backoff before attempt `attempt + 1`: exponential from `backoff`, capped at `max_backoff`, with ±20 % jitter. */
export function backoffMs(policy: RetryPolicy, attempt: number): number {
  const { backoff, max_backoff } = policy;
  const base = Math.min(max_backoff, backoff * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}
