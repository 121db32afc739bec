/**
 * The delivery contract: the message, its result, its error and the sender interface. The lowest file
 * of the delivery folder (the MIME builder and the message checks both build on it); `delivery.ts`
 * re-exports it.
 *
 * @module
 */

/** A fully rendered email, ready to send. */
export interface OutgoingMessage {
  from: string;
  to: string[];
  cc: string[];
  subject: string;
  html: string;
  text: string;
  /** `<id@host>`, set on the message exactly as given. */
  messageId: string;
  /** For follow-ups: threads under the alert's Message-ID. */
  inReplyTo?: string;
  references?: string[];
  /** Extra headers, e.g. `X-Blitz-Alert-Id`, `X-Blitz-Detector`. */
  headers?: Record<string, string>;
}

/** What happened to a message. */
export interface DeliveryResult {
  status: "sent" | "outbox";
  messageId: string;
  /** The `.eml` file, for the outbox. */
  path?: string;
  /** The SMTP server's last reply, for SMTP. */
  response?: string;
}

/** A message that could not be delivered; `transient` says whether a later retry may succeed. */
export class DeliveryError extends Error {
  override name = "DeliveryError";
  /** True for connection errors, timeouts and 4xx SMTP replies: retry later. */
  readonly transient: boolean;
  constructor(
    message: string,
    options: { transient: boolean; cause?: unknown },
  ) {
    super(message, "cause" in options ? { cause: options.cause } : undefined);
    this.transient = options.transient;
  }
}

/** Sends messages; `close()` releases connections and waits for sends in flight. */
export interface Delivery {
  send(message: OutgoingMessage): Promise<DeliveryResult>;
  close(): Promise<void>;
}

/** An OutgoingMessage whose header values are checked and cleaned, its extra headers filled in. */
export interface PreparedMessage extends OutgoingMessage {
  headers: Record<string, string>;
}
