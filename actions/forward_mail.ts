/**
 * `forward_mail`: forwards the alert's original email (HTML and text parts) to other people.
 *
 * Config: `{to, cc, subject}` (`subject` defaults to `Fwd: <original subject>`). The plugin needs the
 * stored message and a way to send: the action route passes both in `ctx.settings` as `message` (the
 * alert record's stored message) and `send` (the runtime's delivery, which checks every header value).
 *
 * @module
 */
import { z } from "zod";
import {
  checkAddress,
  type CheckProblem,
  defineAction,
  type OutgoingMessage,
} from "../core/plugin.ts";

const Address = z.string().min(3).refine(
  (s) => !/[\r\n]/.test(s),
  "must not contain line breaks",
);
const Addresses = z.union([Address, z.array(Address)]).transform((
  v,
) => (Array.isArray(v) ? v : [v]));

const Params = z.strictObject({
  to: Addresses,
  cc: Addresses.default([]),
  subject: z.string().optional(),
});

/** The stored alert message, as the route passes it. */
const StoredMessage = z.object({
  from: z.string(),
  to: z.array(z.string()),
  cc: z.array(z.string()),
  subject: z.string(),
  html: z.string(),
  text: z.string(),
  message_id: z.string().regex(/^<[^<>\s@]+@[^<>\s@]+>$/),
});

/** What the route puts in `ctx.settings`. */
const Settings = z.object({
  message: StoredMessage,
  send: z.custom<(message: OutgoingMessage) => Promise<{ messageId: string }>>((
    v,
  ) => typeof v === "function"),
});

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Puts a short "forwarded" note at the top of the original HTML body. */
function forwardedHtml(html: string, note: string): string {
  const block =
    `<div style="font:13px/1.5 sans-serif;color:#52606d;padding:8px 12px;border-bottom:1px solid #dde2e8;">${
      escapeHtml(note).replaceAll("\n", "<br>")
    }</div>`;
  const body = /<body\b[^>]*>/i.exec(html);
  if (!body) return block + html;
  const at = body.index + body[0].length;
  return html.slice(0, at) + block + html.slice(at);
}

export default defineAction({
  name: "forward_mail",
  aliases: [],
  params: Params,
  sideEffects: true,
  timeoutMs: 30_000,
  check: (config) => {
    // Recipients written out in config are checked now; a `{placeholder}` one only at the click.
    const problems: CheckProblem[] = [];
    if (config.to === undefined) {
      problems.push({
        path: "to",
        message: 'required: who to forward to, e.g. ["ir-team@example.org"]',
      });
    }
    for (const key of ["to", "cc"]) {
      const value = config[key];
      const list = Array.isArray(value)
        ? value
        : value === undefined
        ? []
        : [value];
      list.forEach((address, i) => {
        if (typeof address !== "string" || address.includes("{")) return;
        try {
          checkAddress(address);
        } catch (err) {
          problems.push({
            path: Array.isArray(value) ? `${key}[${i}]` : key,
            message: (err as Error).message.replace(/^Invalid address /, ""),
          });
        }
      });
    }
    return problems;
  },
  async run({ to, cc, subject }, ctx) {
    const settings = Settings.safeParse(ctx.settings);
    if (!settings.success) {
      throw new TypeError(
        "forward_mail needs the stored alert email: it runs only from a reply button",
      );
    }
    const { message, send } = settings.data;
    const domain = message.message_id.slice(
      message.message_id.indexOf("@") + 1,
      -1,
    );
    const note = [
      "---------- Forwarded message ----------",
      `From: ${message.from}`,
      `Subject: ${message.subject}`,
      `To: ${message.to.join(", ")}`,
      ...(message.cc.length ? [`Cc: ${message.cc.join(", ")}`] : []),
    ].join("\n");
    const outgoing: OutgoingMessage = {
      from: message.from,
      to,
      cc,
      subject: subject ?? `Fwd: ${message.subject}`,
      html: forwardedHtml(message.html, note),
      text: `${note}\n\n${message.text}`,
      messageId: `<${crypto.randomUUID()}@${domain}>`,
      references: [message.message_id],
      headers: {
        "X-Blitz-Alert-Id": ctx.alertId,
        "X-Blitz-Detector": ctx.detector,
      },
    };
    const sent = await send(outgoing);
    return { to, cc, message_id: sent.messageId };
  },
});
