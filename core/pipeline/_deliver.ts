/**
 * Handing a stored message to delivery (SMTP pool or outbox), its threading headers included; the
 * outcome says whether to retry. Re-exported by `pipeline.ts`.
 *
 * @module
 */
import { publicError } from "../secrets.ts";
import type { StoredMessage } from "../store/store.ts";
import type { DeliveryOutcome, Runtime } from "./_types.ts";

/** Delivers a stored message; returns the delivery outcome without throwing. */
export async function deliver(
  runtime: Runtime,
  message: StoredMessage,
): Promise<DeliveryOutcome> {
  try {
    const result = await runtime.delivery.send({
      from: message.from,
      to: message.to,
      cc: message.cc,
      subject: message.subject,
      html: message.html,
      text: message.text,
      messageId: message.message_id,
      ...(message.headers ? { headers: message.headers } : {}),
      ...(message.in_reply_to ? { inReplyTo: message.in_reply_to } : {}),
      ...(message.references ? { references: message.references } : {}),
    });
    return { ok: true as const, result };
  } catch (err) {
    const transient = (err as { transient?: unknown }).transient !== false;
    return { ok: false as const, error: publicError(err), transient };
  }
}
