/**
 * The wire details of the SMTP client (`_smtp_conn.ts`): its error type (shaped like nodemailer's, which
 * `retry.ts` classifies), dot-stuffing of a message and its final dot, the EHLO name, socket error codes
 * and the timeout wrapper.
 *
 * @module
 */

const encoder = new TextEncoder();
const LF = 0x0a;
const DOT = 0x2e;
/** The final dot line of a message that ends with CRLF. */
export const FINAL_DOT = encoder.encode(".\r\n");
const CRLF_FINAL_DOT = encoder.encode("\r\n.\r\n");

/** An SMTP failure, shaped like nodemailer's errors (`code`, `responseCode`, `response`, `command`). */
export class SmtpError extends Error {
  override name = "SmtpError";
  code: string;
  responseCode?: number;
  response?: string;
  command?: string;
  constructor(
    message: string,
    code: string,
    reply?: { code: number; text: string },
    command?: string,
  ) {
    super(reply ? `${message}: ${reply.text}` : message);
    this.code = code;
    if (reply) {
      this.responseCode = reply.code;
      this.response = reply.text;
    }
    if (command !== undefined) this.command = command;
  }
}

export interface Reply {
  code: number;
  /** Every line, joined by newlines. */
  text: string;
}

/** The EHLO name: the host's name when it is a FQDN, else `[127.0.0.1]` (as nodemailer). */
let ehloName: string | undefined;
export function clientName(): string {
  if (ehloName !== undefined) return ehloName;
  let name = "";
  try {
    name = Deno.hostname();
  } catch {
    // no --allow-sys=hostname
  }
  return ehloName = name.includes(".") && /^[a-z0-9.-]+$/i.test(name)
    ? name
    : "[127.0.0.1]";
}

/** The code of a socket error, as node's (and so nodemailer's) would be. */
export function socketCode(err: unknown): string {
  const name = (err as { name?: string })?.name;
  if (name === "ConnectionRefused") return "ECONNREFUSED";
  if (name === "ConnectionReset") return "ECONNRESET";
  if (name === "BrokenPipe") return "EPIPE";
  if (name === "TimedOut") return "ETIMEDOUT";
  if (/lookup|resolve|dns/i.test(String((err as Error)?.message))) {
    return "EDNS";
  }
  return "ECONNECTION";
}

/** `raw` dot-stuffed, ending in CRLF, with the final `.` line, in one buffer. */
export function dataBytes(raw: Uint8Array): Uint8Array {
  const dots: number[] = [];
  for (let i = raw.indexOf(DOT); i >= 0; i = raw.indexOf(DOT, i + 1)) {
    if (i === 0 || raw[i - 1] === LF) dots.push(i);
  }
  const tail = raw.length >= 2 && raw[raw.length - 1] === LF &&
      raw[raw.length - 2] === 0x0d
    ? FINAL_DOT
    : CRLF_FINAL_DOT;
  const out = new Uint8Array(raw.length + dots.length + tail.length);
  let from = 0;
  let to = 0;
  for (const at of dots) {
    out.set(raw.subarray(from, at), to);
    to += at - from;
    out[to++] = DOT;
    from = at;
  }
  out.set(raw.subarray(from), to);
  out.set(tail, to + raw.length - from);
  return out;
}

/** `text` dot-stuffed, ending in CRLF, with the final `.` line (no copy when nothing needs stuffing). */
export function dataText(text: string): string {
  if (text.startsWith(".") || text.includes("\n.")) {
    text = text.replace(/(^|\n)\./g, "$1..");
  }
  return text.endsWith("\r\n") ? `${text}.\r\n` : `${text}\r\n.\r\n`;
}

/** `promise`, or an ETIMEDOUT SmtpError after `ms` (a late result is passed to `late`). */
export function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  message: string,
  late?: (value: T) => void,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  return Promise.race([
    promise.then((value) => {
      if (timedOut) late?.(value);
      return value;
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(new SmtpError(message, "ETIMEDOUT"));
      }, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
