/**
 * Message preparation: every value that becomes a header is checked here before it reaches the MIME
 * builder or nodemailer (SECURITY.md 17). Re-exports the delivery contract (`_contract.ts`). Shared by
 * `delivery.ts`, `_outbox.ts` and `_smtp.ts`; import these from `delivery.ts`.
 *
 * @module
 */
import { errorMessage } from "../errors.ts";
import { checkAddress, headerSafe, parseMailbox } from "../headers.ts";
import { buildMimeText } from "./mime.ts";
import {
  DeliveryError,
  type OutgoingMessage,
  type PreparedMessage,
} from "./_contract.ts";

export {
  type Delivery,
  DeliveryError,
  type DeliveryResult,
  type OutgoingMessage,
  type PreparedMessage,
} from "./_contract.ts";

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
): { prepared: PreparedMessage; mime: string } {
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
  return { prepared, mime: buildMimeText(prepared) };
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
  return parseMailbox(address).address;
}

/** The bare address lower-cased, for comparison. */
function addressKey(address: string): string {
  return bareAddress(address).toLowerCase();
}
