/**
 * The file outbox: with no SMTP server configured, each message is written to `<dataDir>/outbox` as an
 * `.eml` file named after its Message-ID (written to a temporary file, then renamed into place).
 *
 * @module
 */
import { join } from "../paths.ts";
import {
  type Delivery,
  DeliveryError,
  type DeliveryResult,
  type OutgoingMessage,
  prepareToSend,
} from "./_message.ts";
import { errorMessage } from "../errors.ts";

/** Writes each message to `<dir>/<message-id local part>.eml`, mode 0600. */
export class OutboxDelivery implements Delivery {
  #dir: string;
  #closed = false;

  constructor(dir: string) {
    this.#dir = dir;
  }

  async send(message: OutgoingMessage): Promise<DeliveryResult> {
    const { prepared, mime } = prepareToSend(message, this.#closed);
    const raw = new TextEncoder().encode(mime);
    const path = join(this.#dir, `${outboxName(prepared.messageId)}.eml`);
    const tmp = `${path}.${crypto.randomUUID()}.tmp`;
    try {
      await Deno.mkdir(this.#dir, { recursive: true });
      await Deno.writeFile(tmp, raw, { mode: 0o600 });
      await Deno.rename(tmp, path);
    } catch (err) {
      await Deno.remove(tmp).catch(() => {});
      const denied = err instanceof Deno.errors.PermissionDenied ||
        err instanceof Deno.errors.NotCapable;
      throw new DeliveryError(`Cannot write ${path}: ${errorMessage(err)}`, {
        transient: !denied,
        cause: err,
      });
    }
    return { status: "outbox", messageId: prepared.messageId, path };
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}

/** A file name from the Message-ID's local part, limited to [A-Za-z0-9._-]. */
function outboxName(messageId: string): string {
  const local = messageId.slice(1, -1).split("@")[0] ?? "";
  const name = local.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "").slice(
    0,
    200,
  );
  return name === "" ? crypto.randomUUID() : name;
}
