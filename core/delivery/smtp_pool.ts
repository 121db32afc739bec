/**
 * A pool of SMTP sessions (`_smtp_conn.ts`, our own client over Deno's sockets) that sends messages
 * Blitz has already built (`mime.ts`).
 *
 * Before, the sessions were nodemailer `SMTPConnection`s over Deno's node:net compatibility layer:
 * under a 10,000-alert burst that was a third of the service's main-thread CPU (its socket writes
 * alone ~0.13 ms per alert), with one round trip per command. The lean client pipelines the envelope
 * (one write for MAIL, RCPT and DATA, one for the body) and writes through `Deno.Conn` directly.
 *
 * Pool behaviour: up to `connections` sessions opened on demand, each reused for up to `maxMessages`
 * messages; a session whose message the server refused (EENVELOPE/EMESSAGE, not 421) is RSET and
 * reused; any other error closes it; an idle session the server closes leaves the pool (one it closed
 * just as a send took it, before any reply, costs that send a retry on a new session). Credentials
 * are sent only when the server offers AUTH, and only over TLS unless `requireTLS` is off.
 *
 * @module
 */
import { SmtpConn, SmtpError } from "./_smtp_conn.ts";

/** Options of {@link SmtpPool}. */
export interface SmtpPoolOptions {
  host: string;
  port: number;
  /** Implicit TLS (smtps, port 465). */
  secure: boolean;
  /** Never STARTTLS, even when offered. */
  ignoreTLS: boolean;
  /** STARTTLS or fail before anything else is sent (no AUTH in clear). @default false */
  requireTLS?: boolean;
  auth?: { user: string; pass: string };
  /** Connection, greeting and reply timeout. */
  timeoutMs: number;
  /** PEM certificates to trust besides the system's. */
  caCerts?: string[];
  /** Connections open at most. */
  connections: number;
  /** Messages per connection before it is replaced. @default 100 */
  maxMessages?: number;
}

/** What the server said to one message. */
export interface SmtpSendResult {
  /** The server's reply to the message (after the final dot). */
  response: string;
  /** Recipients the server refused while accepting the others. */
  rejected: string[];
}

interface Connection {
  smtp: SmtpConn;
  messages: number;
}

const REFUSED = new Set(["EENVELOPE", "EMESSAGE"]);
/** The session's socket closed or broke (not a timeout: a silent server is not retried at once). */
const GONE = new Set(["ECONNECTION", "ECONNRESET", "EPIPE"]);

function closedError(): SmtpError {
  return new SmtpError("SMTP pool closed", "ECONNECTION");
}

/** Sends pre-built messages over pooled SMTP connections. */
export class SmtpPool {
  #options: SmtpPoolOptions;
  #maxMessages: number;
  #idle: Connection[] = [];
  /** Live sessions (idle or busy). */
  #live = new Set<Connection>();
  /** Sessions being opened. */
  #opening = 0;
  #waiting: {
    resolve: (c: Connection) => void;
    reject: (e: unknown) => void;
  }[] = [];
  #closed = false;

  constructor(options: SmtpPoolOptions) {
    this.#options = options;
    this.#maxMessages = options.maxMessages ?? 100;
  }

  /**
   * Sends `message` (CRLF lines: bytes, or text sent as UTF-8) to the envelope's recipients; rejects
   * with an {@link SmtpError}.
   */
  send(
    envelope: { from: string; to: string[] },
    message: Uint8Array | string,
  ): Promise<SmtpSendResult> {
    return this.#send(envelope, message, 0);
  }

  async #send(
    envelope: { from: string; to: string[] },
    message: Uint8Array | string,
    retries: number,
  ): Promise<SmtpSendResult> {
    const connection = await this.#acquire();
    const reused = connection.messages > 0;
    const replies = connection.smtp.replies;
    connection.messages++;
    try {
      const result = await connection.smtp.send(envelope, message);
      this.#release(connection, true);
      return result;
    } catch (err) {
      const e = err as SmtpError;
      if (
        REFUSED.has(e.code) && e.responseCode !== 421 &&
        !connection.smtp.ended
      ) {
        // The server refused this message; the session is fine once reset.
        connection.smtp.reset().then(
          () => this.#release(connection, true),
          () => this.#release(connection, false),
        );
      } else this.#release(connection, false);
      // An idle session the server closed just as it was picked (the close not read yet): it sent
      // no reply to this message, so nothing was taken. Again on another session; each such one
      // leaves the pool, so at most `connections` times before a new session is opened.
      if (
        reused && retries < this.#options.connections && GONE.has(e.code) &&
        connection.smtp.replies === replies && !this.#closed
      ) {
        return await this.#send(envelope, message, retries + 1);
      }
      throw err;
    }
  }

  /** Closes idle connections at once and busy ones when their message is done; fails waiting sends. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const waiter of this.#waiting.splice(0)) waiter.reject(closedError());
    const idle = this.#idle.splice(0);
    await Promise.all(idle.map((connection) => connection.smtp.quit()));
  }

  get #open(): number {
    return this.#live.size + this.#opening;
  }

  /** An idle live connection, a new one, or the next one released. */
  #acquire(): Promise<Connection> {
    if (this.#closed) return Promise.reject(closedError());
    let connection: Connection | undefined;
    while ((connection = this.#idle.pop())) {
      if (!connection.smtp.ended) return Promise.resolve(connection);
    }
    if (this.#open < this.#options.connections) return this.#connect();
    return new Promise((resolve, reject) =>
      this.#waiting.push({ resolve, reject })
    );
  }

  #release(connection: Connection, reusable: boolean): void {
    if (
      this.#closed || !reusable || connection.smtp.ended ||
      connection.messages >= this.#maxMessages
    ) {
      // Its onClose frees the slot and serves a waiter.
      if (connection.smtp.ended) this.#serveWaiter();
      else connection.smtp.quit();
      return;
    }
    const waiter = this.#waiting.shift();
    if (waiter) waiter.resolve(connection);
    else this.#idle.push(connection);
  }

  /** A slot came free: open a connection for the next waiting send, if any. */
  #serveWaiter(): void {
    if (this.#closed || this.#open >= this.#options.connections) return;
    const waiter = this.#waiting.shift();
    if (waiter) this.#connect().then(waiter.resolve, waiter.reject);
  }

  /** Opens, greets (STARTTLS when offered and allowed) and logs in; counts against `connections`. */
  async #connect(): Promise<Connection> {
    const o = this.#options;
    this.#opening++;
    let connection: Connection | undefined;
    try {
      const smtp = await SmtpConn.open({
        host: o.host,
        port: o.port,
        secure: o.secure,
        ignoreTLS: o.ignoreTLS,
        requireTLS: o.requireTLS ?? false,
        auth: o.auth,
        timeoutMs: o.timeoutMs,
        caCerts: o.caCerts,
        onClose: () => {
          if (!connection || !this.#live.delete(connection)) return;
          const at = this.#idle.indexOf(connection);
          if (at >= 0) this.#idle.splice(at, 1);
          // Its slot may serve a waiter (after the send in progress, if any, has settled).
          queueMicrotask(() => this.#serveWaiter());
        },
      });
      connection = { smtp, messages: 0 };
      this.#opening--;
      this.#live.add(connection);
      if (smtp.ended) this.#live.delete(connection);
      return connection;
    } catch (err) {
      this.#opening--;
      // The slot is free again: a send waiting for one tries its own connection (and fails on its own).
      queueMicrotask(() => this.#serveWaiter());
      throw err;
    }
  }
}
