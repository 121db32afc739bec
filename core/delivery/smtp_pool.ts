/**
 * A pool of nodemailer `SMTPConnection`s that sends messages Blitz has already built (`core/mime.ts`).
 *
 * nodemailer's own pooled transport composes every message again: `sendMail({ raw })` runs the raw
 * bytes through its mail composer, a MIME node, a PassThrough and a setImmediate per message, and its
 * header parsers, before the SMTP connection sees them. Measured under a 10,000-alert burst that was
 * about a third of the service's main-thread time. This pool hands the finished bytes to
 * `SMTPConnection.send` as one Buffer (one chunk through its dot-stuffing stream, one socket write), and
 * keeps nodemailer for everything that needs care: the SMTP dialogue, STARTTLS and implicit TLS with
 * certificate checks, AUTH, timeouts and its error codes.
 *
 * Pool behaviour follows nodemailer's pool resource: up to `connections` connections opened on demand,
 * each reused for up to `maxMessages` messages; a connection whose message the server refused
 * (EENVELOPE/EMESSAGE, not 421) is RSET and reused; any other error closes it; an idle connection the
 * server closes leaves the pool. Credentials are sent only when the server offers AUTH, as nodemailer's
 * pool does.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type SMTPConnection from "nodemailer/lib/smtp-connection";

/** The `SMTPConnection` class (imported lazily by the caller, so `ingest` without SMTP never loads it). */
export type SmtpConnectionClass = typeof SMTPConnection;

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
  /** Connection, greeting and socket timeout. */
  timeoutMs: number;
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
  smtp: SMTPConnection;
  messages: number;
  /** Closed by either side: never handed out again. */
  ended: boolean;
  /** Settles the send in progress if the connection ends before nodemailer calls back. */
  onEnd?: ((err: Error) => void) | undefined;
}

const REFUSED = new Set(["EENVELOPE", "EMESSAGE"]);

/** Sends pre-built messages over pooled SMTP connections. */
export class SmtpPool {
  #Smtp: SmtpConnectionClass;
  #options: SmtpPoolOptions;
  #maxMessages: number;
  #idle: Connection[] = [];
  /** Open or opening connections. */
  #open = 0;
  #waiting: {
    resolve: (c: Connection) => void;
    reject: (e: unknown) => void;
  }[] = [];
  #closed = false;

  constructor(Smtp: SmtpConnectionClass, options: SmtpPoolOptions) {
    this.#Smtp = Smtp;
    this.#options = options;
    this.#maxMessages = options.maxMessages ?? 100;
  }

  /** Sends `raw` (CRLF lines, ASCII) to the envelope's recipients; rejects with nodemailer's error. */
  async send(
    envelope: { from: string; to: string[] },
    raw: Uint8Array,
  ): Promise<SmtpSendResult> {
    const connection = await this.#acquire();
    const message = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    return await new Promise<SmtpSendResult>((resolve, reject) => {
      let settled = false;
      const done = (
        err: Error | null,
        info?: SMTPConnection.SentMessageInfo,
      ) => {
        if (settled) return;
        settled = true;
        connection.onEnd = undefined;
        connection.messages++;
        if (!err) {
          this.#release(connection, true);
          return resolve({
            response: String(info?.response ?? ""),
            rejected: (info?.rejected ?? []).map(String),
          });
        }
        const code = (err as { code?: unknown }).code;
        const reply = (err as { responseCode?: unknown }).responseCode;
        if (
          REFUSED.has(String(code)) && reply !== 421 && !connection.ended
        ) {
          // The server refused this message; the session is fine once reset.
          connection.smtp.reset((resetErr) =>
            this.#release(connection, !resetErr)
          );
        } else this.#release(connection, false);
        reject(err);
      };
      connection.onEnd = (err) => done(err);
      try {
        connection.smtp.send(envelope, message, done);
      } catch (err) {
        done(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** Closes idle connections at once and busy ones when their message is done; fails waiting sends. */
  close(): Promise<void> {
    this.#closed = true;
    for (const waiter of this.#waiting.splice(0)) {
      waiter.reject(
        Object.assign(new Error("SMTP pool closed"), { code: "ECONNECTION" }),
      );
    }
    const idle = this.#idle.splice(0);
    return Promise.all(idle.map((connection) => this.#end(connection))).then(
      () => {},
    );
  }

  /** An idle live connection, a new one, or the next one released. */
  #acquire(): Promise<Connection> {
    if (this.#closed) {
      return Promise.reject(
        Object.assign(new Error("SMTP pool closed"), { code: "ECONNECTION" }),
      );
    }
    let connection: Connection | undefined;
    while ((connection = this.#idle.pop())) {
      if (!connection.ended) return Promise.resolve(connection);
    }
    if (this.#open < this.#options.connections) return this.#connect();
    return new Promise((resolve, reject) =>
      this.#waiting.push({ resolve, reject })
    );
  }

  #release(connection: Connection, reusable: boolean): void {
    if (
      this.#closed || !reusable || connection.ended ||
      connection.messages >= this.#maxMessages
    ) {
      this.#end(connection);
      this.#serveWaiter();
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
  #connect(): Promise<Connection> {
    const o = this.#options;
    this.#open++;
    const smtp = new this.#Smtp({
      host: o.host,
      port: o.port,
      secure: o.secure,
      ignoreTLS: o.ignoreTLS,
      requireTLS: o.requireTLS ?? false,
      connectionTimeout: o.timeoutMs,
      greetingTimeout: o.timeoutMs,
      socketTimeout: o.timeoutMs,
      logger: false,
      debug: false,
    });
    const connection: Connection = { smtp, messages: 0, ended: false };
    return new Promise<Connection>((resolve, reject) => {
      let ready = false;
      let failed = false;
      const fail = (err: Error) => {
        if (ready || failed) return;
        failed = true;
        this.#end(connection);
        reject(err);
        // The slot is free again: a send waiting for one tries its own connection (and fails on its own).
        queueMicrotask(() => this.#serveWaiter());
      };
      smtp.on("error", (err: Error) => {
        if (!ready) return fail(err);
        // After start-up, the send callback (or 'end') reports errors of a busy connection.
        connection.onEnd?.(err);
      });
      smtp.once("end", () => {
        if (!connection.ended) {
          this.#forget(connection);
          // Closed by the server outside a send (idle, or during a reset): its slot may serve a waiter.
          if (!connection.onEnd) queueMicrotask(() => this.#serveWaiter());
        }
        const err = Object.assign(
          new Error("Connection closed by the SMTP server"),
          { code: "ECONNECTION" },
        );
        if (!ready) return fail(err);
        connection.onEnd?.(err);
        this.#idle = this.#idle.filter((c) => c !== connection);
      });
      smtp.connect((err?: Error | null) => {
        if (err) return fail(err);
        if (failed) return;
        const finish = () => {
          ready = true;
          resolve(connection);
        };
        if (!o.auth || !smtp.allowsAuth) return finish();
        smtp.login(o.auth, (loginErr?: Error | null) => {
          if (loginErr) return fail(loginErr);
          finish();
        });
      });
    });
  }

  /** Closes a connection (QUIT when it is healthy) and frees its slot. */
  #end(connection: Connection): Promise<void> {
    if (connection.ended) return Promise.resolve();
    this.#forget(connection);
    return new Promise((resolve) => {
      // A server that never answers QUIT: close after a short grace.
      const timer = setTimeout(() => {
        connection.smtp.close();
        resolve();
      }, 1000);
      Deno.unrefTimer(timer);
      connection.smtp.once("end", () => {
        clearTimeout(timer);
        resolve();
      });
      try {
        connection.smtp.quit();
      } catch {
        connection.smtp.close();
      }
    });
  }

  #forget(connection: Connection): void {
    if (connection.ended) return;
    connection.ended = true;
    this.#open--;
  }
}
