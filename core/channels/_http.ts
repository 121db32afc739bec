/**
 * What the channel senders share: the error an attempt fails with (transient or not, and how long the
 * far end asked us to wait), a JSON POST under a deadline that turns HTTP answers into those errors
 * (429 and 5xx transient, honouring `Retry-After`; other 4xx permanent), and the `api_url` override.
 *
 * @module
 */
import { errorMessage } from "../errors.ts";
import { redact } from "../secrets.ts";

/** A failed channel attempt. */
export class ChannelError extends Error {
  override name = "ChannelError";
  /** Worth retrying (with backoff). */
  readonly transient: boolean;
  /** The far end's `Retry-After`, in ms: the next attempt waits at least this long. */
  readonly retryAfterMs: number | undefined;
  constructor(
    message: string,
    options: {
      transient: boolean;
      retryAfterMs?: number | undefined;
      cause?: unknown;
    },
  ) {
    super(message, { cause: options.cause });
    this.transient = options.transient;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** `Retry-After` (seconds or an HTTP date) in ms; undefined when absent or unreadable. */
export function retryAfterMs(
  value: string | null | undefined,
  now: number = Date.now(),
): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value.trim());
  if (Number.isFinite(seconds) && seconds >= 0) {
    return Math.ceil(seconds * 1000);
  }
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** `url` with its scheme, host and port replaced by those of `apiUrl` (path and query kept). */
export function withBase(url: string, apiUrl: string | undefined): string {
  if (!apiUrl) return url;
  const target = new URL(url);
  const base = new URL(apiUrl);
  const prefix = base.pathname.replace(/\/+$/, "");
  return `${base.origin}${prefix}${target.pathname}${target.search}`;
}

/**
 * POSTs `body` (JSON text) under a deadline; resolves with the response text on 2xx, else throws
 * {@link ChannelError}. Nothing the far end says reaches a message unredacted or uncapped.
 */
export async function postJson(
  url: string,
  body: string,
  options: {
    headers?: Record<string, string>;
    timeoutMs: number;
    what: string;
  },
): Promise<{ status: number; text: string }> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...options.headers },
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  } catch (err) {
    throw new ChannelError(
      `${options.what} unreachable: ${redact(errorMessage(err))}`,
      {
        transient: true,
        cause: err,
      },
    );
  }
  const text = await response.text().catch(() => "");
  if (response.ok) return { status: response.status, text };
  const status = response.status;
  const transient = status === 408 || status === 429 || status >= 500;
  throw new ChannelError(
    `${options.what} answered ${status}${
      text ? `: ${redact(text.replace(/\s+/g, " ").slice(0, 200))}` : ""
    }`,
    {
      transient,
      retryAfterMs: retryAfterMs(response.headers.get("retry-after")),
    },
  );
}
