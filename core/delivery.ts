/**
 * Email delivery: SMTP over pooled nodemailer connections (`core/smtp_pool.ts`, which sends the
 * message bytes built by `core/mime.ts`), or a file outbox when no SMTP server is configured. Every header value is checked here before nodemailer sees it
 * (SECURITY.md 17), and SMTP credentials never reach an error message (SECURITY.md 18).
 *
 * @module
 */
import { buildMime } from "./mime.ts";
import { type SmtpConnectionClass, SmtpPool } from "./smtp_pool.ts";
import { importLazy } from "./lazy.ts";
import { join } from "./paths.ts";
import { checkAddress, headerSafe } from "./headers.ts";

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

/** SMTP (pooled nodemailer connections) when `smtp` is set, else a file outbox in `<dataDir>/outbox`. */
export function createDelivery(
  options: {
    /** `smtp://user:pass@host:port` or `smtps://…`; `?ignore_tls=1` turns STARTTLS off. */
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

/** Builds the RFC 5322 message bytes — used by the outbox, by SMTP and by forward_mail. */
export function buildRawMessage(
  message: OutgoingMessage,
): Promise<Uint8Array> {
  try {
    return Promise.resolve(composeRaw(prepareMessage(message)));
  } catch (err) {
    return Promise.reject(err);
  }
}

function composeRaw(message: PreparedMessage): Uint8Array {
  return buildMime(message);
}

// --- Message preparation ---------------------------------------------------------------------

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

interface PreparedMessage {
  from: string;
  to: string[];
  cc: string[];
  subject: string;
  html: string;
  text: string;
  messageId: string;
  inReplyTo?: string;
  references?: string[];
  headers: Record<string, string>;
}

/** Checks and cleans every value that becomes a header; throws TypeError or DeliveryError. */
function prepareMessage(message: OutgoingMessage): PreparedMessage {
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
function bareAddress(address: string): string {
  const named = /<([^<>]*)>$/.exec(address);
  return (named?.[1] ?? address).trim();
}

/**
 * The SMTP envelope form of a checked address: the bare address with its domain lower-cased and, when
 * internationalised, in its ASCII (punycode) form, as nodemailer's mailer did. The local part is kept.
 */
function envelopeAddress(address: string): string {
  const bare = bareAddress(address);
  const at = bare.lastIndexOf("@");
  const domain = bare.slice(at + 1);
  let ascii = domain.toLowerCase();
  try {
    ascii = new URL(`http://${domain}/`).hostname;
  } catch {
    // not a host name URL accepts (an address literal, say): send it as given, lower-cased
  }
  return `${bare.slice(0, at)}@${ascii}`;
}

/** The bare address lower-cased, for comparison. */
function addressKey(address: string): string {
  return bareAddress(address).toLowerCase();
}

// --- Outbox ----------------------------------------------------------------------------------

class OutboxDelivery implements Delivery {
  #dir: string;
  #closed = false;

  constructor(dir: string) {
    this.#dir = dir;
  }

  async send(message: OutgoingMessage): Promise<DeliveryResult> {
    if (this.#closed) {
      throw new DeliveryError("Cannot send: delivery is closed", {
        transient: false,
      });
    }
    const prepared = prepareOrFail(message);
    const raw = composeRaw(prepared);
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

// --- SMTP ------------------------------------------------------------------------------------

interface SmtpSettings {
  host: string;
  port: number;
  secure: boolean;
  ignoreTLS: boolean;
  auth?: { user: string; pass: string };
  /** `smtp://host:port`, safe to print. */
  label: string;
  /** Strings to redact from anything printed: the password, encoded and decoded, and its SASL forms. */
  secrets: string[];
}

const TRANSIENT_CODES = new Set([
  "ECONNECTION",
  "ETIMEDOUT",
  "ESOCKET",
  "EDNS",
  "ETLS",
  "EPROXY",
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);

class SmtpDelivery implements Delivery {
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

  /** The connection pool, created on first use (nodemailer is imported only when SMTP is used). */
  #getPool(): Promise<SmtpPool> {
    return this.#pool ??= importLazy<{ default: SmtpConnectionClass }>(
      "npm:nodemailer/lib/smtp-connection",
    ).then((mod) => {
      const settings = this.#settings;
      return new SmtpPool(mod.default, {
        host: settings.host,
        port: settings.port,
        secure: settings.secure,
        ignoreTLS: settings.ignoreTLS,
        timeoutMs: this.#timeoutMs,
        connections: this.#connections,
        ...(settings.auth ? { auth: settings.auth } : {}),
      });
    });
  }

  async send(message: OutgoingMessage): Promise<DeliveryResult> {
    if (this.#closed) {
      throw new DeliveryError("Cannot send: delivery is closed", {
        transient: false,
      });
    }
    const prepared = prepareOrFail(message);
    const raw = composeRaw(prepared);
    const envelope = {
      from: envelopeAddress(prepared.from),
      to: [...prepared.to, ...prepared.cc].map(envelopeAddress),
    };
    const sending = this.#getPool().then((pool) => pool.send(envelope, raw));
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
    const transient = responseCode !== undefined
      // 4xx: try again later; 5xx: refused for good, except 503 (bad command sequence, a session problem).
      ? responseCode < 500 || responseCode === 503
      : code !== undefined && TRANSIENT_CODES.has(code);
    const reason = this.#redact(errorMessage(err));
    // A clean copy of nodemailer's error: its message, code and reply, never the credentials.
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
function parseSmtpUrl(value: string): SmtpSettings {
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
  let ignoreTLS = false;
  for (const [key, flag] of url.searchParams) {
    if (key !== "ignore_tls" || !["1", "true", "0", "false"].includes(flag)) {
      throw new TypeError(
        `Invalid SMTP URL ${JSON.stringify(redacted)}: unknown option ${
          JSON.stringify(key)
        }`,
      );
    }
    ignoreTLS = flag === "1" || flag === "true";
  }
  const settings: SmtpSettings = {
    host,
    port,
    secure,
    ignoreTLS,
    label: `${url.protocol}//${url.host}`,
    secrets: [],
  };
  if (url.username !== "" || url.password !== "") {
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

// --- Shared ----------------------------------------------------------------------------------

/** prepareMessage(), with a bad message reported as a permanent DeliveryError. */
function prepareOrFail(message: OutgoingMessage): PreparedMessage {
  try {
    return prepareMessage(message);
  } catch (err) {
    if (err instanceof DeliveryError) throw err;
    throw new DeliveryError(`Cannot send message: ${errorMessage(err)}`, {
      transient: false,
      cause: err,
    });
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
