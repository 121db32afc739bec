/**
 * The delivery contract (the message, its result and its error) and message preparation: every value
 * that becomes a header is checked here before it reaches the MIME builder or nodemailer (SECURITY.md 17).
 * Shared by `delivery.ts`, `_outbox.ts` and `_smtp_delivery.ts`; import these from `delivery.ts`.
 *
 * @module
 */
import { checkAddress, headerSafe } from "../headers.ts";
import { buildMime } from "./mime.ts";

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

/** Header names the message builder owns; extra headers may not override them (Auto-Submitted they may). */
const RESERVED_HEADERS = new Set([
  "from",
  "sender",
  "reply-to",
  "to",
  "cc",
  "bcc",
  "subject",
  "date",
  "message-id",
  "in-reply-to",
  "references",
  "mime-version",
  "content-type",
  "content-transfer-encoding",
  "return-path",
  "received",
]);
const HEADER_NAME = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
const MESSAGE_ID = /^<[^<>\s]+>$/;

/** Checks and cleans every value that becomes a header; throws TypeError or DeliveryError. */
export function prepareMessage(message: OutgoingMessage): PreparedMessage {
  const messageId = checkMessageId(message.messageId, "messageId");
  const seen = new Set<string>();
  const unique = (list: string[]) =>
    list.map(checkAddress).filter((address) => {
      const key = addressKey(address);
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  const to = unique(message.to);
  const cc = unique(message.cc);
  if (to.length + cc.length === 0) {
    throw new DeliveryError(`Cannot send message ${messageId}: No recipients`, {
      transient: false,
    });
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (!HEADER_NAME.test(name) || RESERVED_HEADERS.has(name.toLowerCase())) {
      throw new TypeError(`Invalid header name ${JSON.stringify(name)}`);
    }
    headers[name] = headerSafe(String(value));
  }
  if (
    !Object.keys(headers).some((name) =>
      name.toLowerCase() === "auto-submitted"
    )
  ) {
    headers["Auto-Submitted"] = "auto-generated";
  }
  const prepared: PreparedMessage = {
    from: checkAddress(message.from),
    to,
    cc,
    subject: headerSafe(message.subject),
    html: message.html,
    text: message.text,
    messageId,
    headers,
  };
  if (message.inReplyTo !== undefined) {
    prepared.inReplyTo = checkMessageId(message.inReplyTo, "inReplyTo");
  }
  if (message.references !== undefined) {
    prepared.references = message.references.map((id) =>
      checkMessageId(id, "references")
    );
  }
  return prepared;
}

/**
 * The start of every `send`: refuses a closed delivery, checks the message (a bad one is a permanent
 * DeliveryError) and builds its MIME bytes once.
 */
export function prepareToSend(
  message: OutgoingMessage,
  closed: boolean,
): { prepared: PreparedMessage; raw: Uint8Array } {
  if (closed) {
    throw new DeliveryError("Cannot send: delivery is closed", {
      transient: false,
    });
  }
  let prepared: PreparedMessage;
  try {
    prepared = prepareMessage(message);
  } catch (err) {
    if (err instanceof DeliveryError) throw err;
    throw new DeliveryError(`Cannot send message: ${errorMessage(err)}`, {
      transient: false,
      cause: err,
    });
  }
  return { prepared, raw: buildMime(prepared) };
}

function checkMessageId(value: string, field: string): string {
  const id = headerSafe(value);
  if (!MESSAGE_ID.test(id)) {
    throw new TypeError(
      `Invalid ${field} ${JSON.stringify(value)}: expected "<id@host>"`,
    );
  }
  return id;
}

/** The bare `local@domain` of a checked address. */
export function bareAddress(address: string): string {
  const named = /<([^<>]*)>$/.exec(address);
  return (named?.[1] ?? address).trim();
}

/** The bare address lower-cased, for comparison. */
function addressKey(address: string): string {
  return bareAddress(address).toLowerCase();
}

/** The message of an Error, or the value as a string. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
