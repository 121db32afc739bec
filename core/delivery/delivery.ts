/**
 * Email delivery: SMTP over pooled connections of our own client (`_smtp.ts`, `smtp_pool.ts`), or a file outbox
 * (`_outbox.ts`) when no SMTP server is configured; both send the message bytes built by `mime.ts`.
 * Every header value is checked before it is used (`_message.ts`, SECURITY.md 17), and SMTP
 * credentials never reach an error message (SECURITY.md 18).
 *
 * @module
 */
import { buildMime } from "./mime.ts";
import { join } from "../paths.ts";
import {
  type Delivery,
  type OutgoingMessage,
  prepareMessage,
} from "./_message.ts";
import { OutboxDelivery } from "./_outbox.ts";
import { parseSmtpUrl, SmtpDelivery } from "./_smtp.ts";

export {
  type Delivery,
  DeliveryError,
  type DeliveryResult,
  type OutgoingMessage,
} from "./_message.ts";

/** SMTP (pooled connections) when `smtp` is set, else a file outbox in `<dataDir>/outbox`. */
export function createDelivery(
  options: {
    /**
     * `smtp://user:pass@host:port` or `smtps://…`; with credentials STARTTLS is required
     * (`?require_tls=0` opts out); `?ignore_tls=1` turns STARTTLS off (without credentials).
     */
    smtp?: string | undefined;
    /** The outbox goes to `<dataDir>/outbox`. */
    dataDir: string;
    /** Connection, greeting and socket timeout. @default 30000 */
    timeoutMs?: number;
    /** SMTP connections in the pool. @default 4 */
    connections?: number;
  },
): Delivery {
  if (options.smtp === undefined) {
    return new OutboxDelivery(join(options.dataDir, "outbox"));
  }
  return new SmtpDelivery(
    parseSmtpUrl(options.smtp),
    options.timeoutMs ?? 30_000,
    options.connections ?? 4,
  );
}

/**
 * What `check` says about an `smtp` URL: `problem` when it cannot be used (it names no credential),
 * `warning` when it lets the credentials go out in clear (`require_tls=0`).
 */
export function checkSmtpUrl(
  url: string,
): { problem?: string; warning?: string } {
  try {
    const settings = parseSmtpUrl(url);
    if (settings.auth && !settings.secure && !settings.requireTLS) {
      return {
        warning:
          "require_tls=0 sends the SMTP credentials in clear when the server (or a man in the middle) does not offer STARTTLS; prefer smtps:// or a relay that offers STARTTLS",
      };
    }
    return {};
  } catch (err) {
    return { problem: (err as Error).message };
  }
}

/** Builds the RFC 5322 message bytes — used by the outbox, by SMTP and by forward_mail. */
export function buildRawMessage(
  message: OutgoingMessage,
): Promise<Uint8Array> {
  try {
    return Promise.resolve(buildMime(prepareMessage(message)));
  } catch (err) {
    return Promise.reject(err);
  }
}
