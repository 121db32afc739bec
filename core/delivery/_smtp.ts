/**
 * SMTP delivery over pooled connections of our own SMTP client (`smtp_pool.ts`, which sends the bytes built by
 * `mime.ts`): parses the `smtp://` URL, classifies failures as transient or permanent, and keeps SMTP
 * credentials out of every error message and reply it returns (SECURITY.md 18).
 *
 * @module
 */
import type { SmtpPool } from "./smtp_pool.ts";
import { importLazy } from "../lazy.ts";
import {
  bareAddress,
  type Delivery,
  DeliveryError,
  type DeliveryResult,
  type OutgoingMessage,
  prepareToSend,
} from "./_message.ts";
import { errorMessage } from "../errors.ts";
import { asciiDomain } from "../headers.ts";
import { smtpFailureIsTransient } from "./retry.ts";

/** Connection settings parsed from an SMTP URL. */
export interface SmtpSettings {
  host: string;
  port: number;
  secure: boolean;
  ignoreTLS: boolean;
  /**
   * STARTTLS or no session: set by default whenever there are credentials (a server or a man in the
   * middle that does not offer STARTTLS must not receive AUTH in clear); `?require_tls=0` opts out.
   */
  requireTLS: boolean;
  auth?: { user: string; pass: string };
  /** `smtp://host:port`, safe to print. */
  label: string;
  /** Strings to redact from anything printed: the password, encoded and decoded, and its SASL forms. */
  secrets: string[];
}

/** Sends each message through a lazily created SmtpPool; `close()` waits for sends in flight. */
export class SmtpDelivery implements Delivery {
  #settings: SmtpSettings;
  #timeoutMs: number;
  #pool?: Promise<SmtpPool>;
  #inFlight = new Set<Promise<unknown>>();
  #closed = false;

  #connections: number;

  constructor(settings: SmtpSettings, timeoutMs: number, connections: number) {
    this.#settings = settings;
    this.#timeoutMs = timeoutMs;
    this.#connections = connections;
  }

  /**
   * The connection pool, created on first use: the pool and its client load only when SMTP is used,
   * never on a CLI run that writes the outbox.
   */
  #getPool(): Promise<SmtpPool> {
    return this.#pool ??= importLazy<typeof import("./smtp_pool.ts")>(
      "core/delivery/smtp_pool.ts",
    ).then(({ SmtpPool }) => {
      const settings = this.#settings;
      return new SmtpPool({
        host: settings.host,
        port: settings.port,
        secure: settings.secure,
        ignoreTLS: settings.ignoreTLS,
        requireTLS: settings.requireTLS,
        timeoutMs: this.#timeoutMs,
        connections: this.#connections,
        ...(settings.auth ? { auth: settings.auth } : {}),
      });
    });
  }

  async send(message: OutgoingMessage): Promise<DeliveryResult> {
    const { prepared, mime } = prepareToSend(message, this.#closed);
    const envelope = {
      from: envelopeAddress(prepared.from),
      to: [...prepared.to, ...prepared.cc].map(envelopeAddress),
    };
    const sending = this.#getPool().then((pool) => pool.send(envelope, mime));
    this.#inFlight.add(sending);
    try {
      const info = await sending;
      const result: DeliveryResult = {
        status: "sent",
        messageId: prepared.messageId,
      };
      const refused = info.rejected.length > 0
        ? ` (refused: ${info.rejected.join(", ")})`
        : "";
      if (info.response !== "" || refused !== "") {
        result.response = this.#redact(info.response + refused);
      }
      return result;
    } catch (err) {
      throw this.#deliveryError(prepared.messageId, err);
    } finally {
      this.#inFlight.delete(sending);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Idle connections close at once; busy ones finish their message first.
    await Promise.allSettled([...this.#inFlight]);
    if (this.#pool) await (await this.#pool).close();
  }

  #redact(text: string): string {
    let out = text.replace(/(smtps?:\/\/)[^@\s]*@/gi, "$1***@");
    for (const secret of this.#settings.secrets) {
      out = out.replaceAll(secret, "***");
    }
    return out;
  }

  #deliveryError(messageId: string, err: unknown): DeliveryError {
    const e = (err ?? {}) as {
      code?: unknown;
      responseCode?: unknown;
      command?: unknown;
    };
    const code = typeof e.code === "string" ? e.code : undefined;
    const responseCode = typeof e.responseCode === "number"
      ? e.responseCode
      : undefined;
    const transient = smtpFailureIsTransient({ code, responseCode });
    const reason = this.#redact(errorMessage(err));
    // A clean copy of the client's error: its message, code and reply, never the credentials.
    const cause = new Error(reason);
    if (code !== undefined) Object.assign(cause, { code });
    if (responseCode !== undefined) Object.assign(cause, { responseCode });
    if (typeof e.command === "string") {
      Object.assign(cause, { command: this.#redact(e.command) });
    }
    return new DeliveryError(
      `Cannot deliver message ${messageId} via ${this.#settings.label}: ${reason}`,
      {
        transient,
        cause,
      },
    );
  }
}

/** Parses `smtp://user:pass@host:port` / `smtps://…`; the error names the URL without its credentials. */
export function parseSmtpUrl(value: string): SmtpSettings {
  // Everything up to the last @ may be credentials (an unencoded / or @ in a password included).
  const redacted = value.replace(/^([a-z][a-z0-9+.-]*:\/\/).*@/is, "$1***@");
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(
      `Invalid SMTP URL ${JSON.stringify(redacted)}: cannot parse it`,
    );
  }
  if (url.protocol !== "smtp:" && url.protocol !== "smtps:") {
    throw new TypeError(
      `Invalid SMTP URL ${
        JSON.stringify(redacted)
      }: must start with smtp:// or smtps://`,
    );
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (host === "") {
    throw new TypeError(
      `Invalid SMTP URL ${JSON.stringify(redacted)}: missing host`,
    );
  }
  const secure = url.protocol === "smtps:";
  const port = url.port === "" ? (secure ? 465 : 587) : Number(url.port);
  const flags: Record<string, boolean> = {};
  for (const [key, flag] of url.searchParams) {
    if (
      !["ignore_tls", "require_tls"].includes(key) ||
      !["1", "true", "0", "false"].includes(flag)
    ) {
      throw new TypeError(
        `Invalid SMTP URL ${JSON.stringify(redacted)}: unknown option ${
          JSON.stringify(key)
        } (known: ignore_tls, require_tls, each 1 or 0)`,
      );
    }
    flags[key] = flag === "1" || flag === "true";
  }
  const ignoreTLS = flags.ignore_tls ?? false;
  const credentials = url.username !== "" || url.password !== "";
  if (credentials && ignoreTLS && flags.require_tls !== false) {
    throw new TypeError(
      `Invalid SMTP URL ${
        JSON.stringify(redacted)
      }: ignore_tls=1 would send the credentials in clear; add require_tls=0 to accept that, or drop ignore_tls (or use smtps://)`,
    );
  }
  const settings: SmtpSettings = {
    host,
    port,
    secure,
    ignoreTLS,
    requireTLS: credentials && !secure && flags.require_tls !== false,
    label: `${url.protocol}//${url.host}`,
    secrets: [],
  };
  if (credentials) {
    let user: string;
    let pass: string;
    try {
      user = decodeURIComponent(url.username);
      pass = decodeURIComponent(url.password);
    } catch {
      throw new TypeError(
        `Invalid SMTP URL ${
          JSON.stringify(redacted)
        }: bad percent-encoding in the credentials`,
      );
    }
    settings.auth = { user, pass };
    const sasl = (text: string) =>
      btoa(String.fromCharCode(...new TextEncoder().encode(text)));
    settings.secrets = [
      url.password,
      pass,
      sasl(pass),
      sasl(`\0${user}\0${pass}`),
    ]
      .filter((secret) => secret.length >= 3)
      .sort((a, b) => b.length - a.length);
  }
  return settings;
}

/**
 * The SMTP envelope form of a checked address: the bare address with its domain lower-cased and, when
 * internationalised, in its ASCII (punycode) form, as nodemailer's mailer did. The local part is kept.
 */
function envelopeAddress(address: string): string {
  const bare = bareAddress(address);
  const at = bare.lastIndexOf("@");
  const domain = bare.slice(at + 1);
  return `${bare.slice(0, at)}@${asciiDomain(domain)}`;
}
