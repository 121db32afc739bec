/**
 * One SMTP client session over `Deno.connect` / `Deno.connectTls` / `Deno.startTls`, lean enough for
 * alert storms: ESMTP with PIPELINING (RFC 2920: MAIL, every RCPT and DATA go out in one write, the
 * dot-stuffed body and its final dot in a second), several messages per session, implicit TLS or
 * STARTTLS (opportunistic, or required), AUTH PLAIN or LOGIN, a timeout on every wait, and
 * nodemailer-compatible error codes (`ECONNECTION`, `ETIMEDOUT`, `ETLS`, `EAUTH`, `EENVELOPE`,
 * `EMESSAGE`, `EPROTOCOL`) with the server's `responseCode`, which `retry.ts` classifies.
 *
 * Credentials go out only after TLS when `requireTLS` is set (a server, or a man in the middle,
 * that offers no STARTTLS gets no AUTH: issue 16 item 5), and only when the server offers AUTH.
 * After start-up a read loop watches the socket, so a session the server closes while idle is
 * noticed (`onClose`) and never handed out again.
 *
 * @module
 */

import {
  clientName,
  dataBytes,
  dataText,
  FINAL_DOT,
  type Reply,
  SmtpError,
  socketCode,
  withTimeout,
} from "./_smtp_wire.ts";

export { SmtpError } from "./_smtp_wire.ts";

/** Settings of one session. */
export interface SmtpConnOptions {
  host: string;
  port: number;
  /** Implicit TLS (smtps). */
  secure: boolean;
  /** Never STARTTLS, even when offered. */
  ignoreTLS: boolean;
  /** STARTTLS or fail before anything else is sent. */
  requireTLS: boolean;
  auth?: { user: string; pass: string } | undefined;
  /** Connect, greeting and every reply wait. */
  timeoutMs: number;
  /** PEM certificates to trust besides the system's (a private relay's CA). */
  caCerts?: string[] | undefined;
  /** Called once when the session ends, by either side. */
  onClose?: (() => void) | undefined;
}

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");
/** Printable ASCII and the usual controls: an envelope without SMTPUTF8. */
const ASCII = /^[\t\x20-\x7e]*$/;
/** How often the watchdog looks for replies overdue: the precision of the reply timeout. */
const WATCHDOG_MS = 100;

/** A ready SMTP session; open with {@link SmtpConn.open}. One message at a time. */
export class SmtpConn {
  #conn: Deno.Conn;
  #options: SmtpConnOptions;
  #buffer = "";
  #wake?: (() => void) | undefined;
  /** Set when the socket ended or failed: the error every later wait gets. */
  #error?: SmtpError | undefined;
  #loop = false;
  #extensions = new Set<string>();
  #auth: string[] = [];
  #tls: boolean;

  private constructor(conn: Deno.Conn, options: SmtpConnOptions, tls: boolean) {
    this.#conn = conn;
    this.#options = options;
    this.#tls = tls;
  }

  /** Whether the session ended (by either side): never use it again. */
  get ended(): boolean {
    return this.#error !== undefined;
  }

  /**
   * Complete replies read so far. A send that failed with this unchanged got no answer to its MAIL,
   * so the server cannot have taken the message (its body goes only after the 354).
   */
  get replies(): number {
    return this.#replies;
  }
  #replies = 0;

  /** Connects, greets, upgrades to TLS as configured and logs in. */
  static async open(options: SmtpConnOptions): Promise<SmtpConn> {
    const target = { hostname: options.host, port: options.port };
    const tlsOptions = options.caCerts ? { caCerts: options.caCerts } : {};
    let conn: Deno.Conn | undefined;
    try {
      conn = await withTimeout(
        (options.secure
          ? Deno.connectTls({ ...target, ...tlsOptions })
          : Deno.connect(target)) as Promise<Deno.Conn>,
        options.timeoutMs,
        "Connection timeout",
        (late) => late.close(),
      );
      if (options.secure) {
        await withTimeout(
          (conn as Deno.TlsConn).handshake(),
          options.timeoutMs,
          "TLS timeout",
        );
      }
    } catch (err) {
      try {
        conn?.close();
      } catch {
        // already closed
      }
      if (err instanceof SmtpError) throw err;
      throw new SmtpError(
        `Connection to ${options.host}:${options.port} failed: ${
          (err as Error).message
        }`,
        options.secure && /certificate|tls|handshake/i.test(String(err))
          ? "ETLS"
          : socketCode(err),
      );
    }
    try {
      (conn as Deno.TcpConn).setNoDelay?.(true);
    } catch {
      // not a TCP socket
    }
    const session = new SmtpConn(conn, options, options.secure);
    try {
      await session.#start();
      return session;
    } catch (err) {
      session.close();
      throw err;
    }
  }

  async #start(): Promise<void> {
    const o = this.#options;
    const greeting = await this.#reply("greeting");
    if (greeting.code !== 220) {
      throw new SmtpError("Invalid greeting", "EPROTOCOL", greeting);
    }
    await this.#hello();
    // With TLS required, STARTTLS is asked for even when not offered (a man in the middle may
    // have stripped the offer); the refusal then fails the session below.
    if (
      !this.#tls && !o.ignoreTLS &&
      (this.#extensions.has("STARTTLS") || o.requireTLS)
    ) {
      const reply = await this.#command("STARTTLS");
      if (reply.code !== 220) {
        throw new SmtpError(
          o.requireTLS
            ? "STARTTLS refused and TLS is required (credentials are never sent in clear; add ?require_tls=0 to the URL to allow that)"
            : "STARTTLS refused",
          "ETLS",
          reply,
          "STARTTLS",
        );
      }
      try {
        const tls = await Deno.startTls(this.#conn as Deno.TcpConn, {
          hostname: o.host,
          ...(o.caCerts ? { caCerts: o.caCerts } : {}),
        });
        this.#conn = tls;
        await withTimeout(tls.handshake(), o.timeoutMs, "TLS timeout");
      } catch (err) {
        throw new SmtpError(
          `TLS with ${o.host} failed: ${(err as Error).message}`,
          "ETLS",
        );
      }
      this.#tls = true;
      await this.#hello();
    }
    if (!this.#tls && o.requireTLS) {
      throw new SmtpError(
        "The server offers no STARTTLS and TLS is required (credentials are never sent in clear; add ?require_tls=0 to the URL to allow that)",
        "ETLS",
      );
    }
    if (o.auth && this.#auth.length > 0) await this.#login(o.auth);
    this.#loop = true;
    this.#readLoop();
  }

  async #hello(): Promise<void> {
    let reply = await this.#command(`EHLO ${clientName()}`);
    this.#extensions.clear();
    this.#auth = [];
    if (reply.code !== 250) {
      reply = await this.#command(`HELO ${clientName()}`);
      if (reply.code !== 250) {
        throw new SmtpError("HELO refused", "EPROTOCOL", reply, "HELO");
      }
      return;
    }
    for (const line of reply.text.split("\n").slice(1)) {
      const words = line.slice(4).trim().toUpperCase().split(/[\s=]+/);
      this.#extensions.add(words[0]!);
      if (words[0] === "AUTH") this.#auth.push(...words.slice(1));
    }
  }

  async #login(auth: { user: string; pass: string }): Promise<void> {
    const b64 = (text: string) =>
      (encoder.encode(text) as Uint8Array & { toBase64(): string }).toBase64();
    let reply: Reply;
    if (this.#auth.includes("PLAIN") || !this.#auth.includes("LOGIN")) {
      reply = await this.#command(
        `AUTH PLAIN ${b64(`\0${auth.user}\0${auth.pass}`)}`,
        "AUTH PLAIN",
      );
    } else {
      reply = await this.#command("AUTH LOGIN");
      if (reply.code === 334) {
        reply = await this.#command(b64(auth.user), "AUTH LOGIN");
      }
      if (reply.code === 334) {
        reply = await this.#command(b64(auth.pass), "AUTH LOGIN");
      }
    }
    if (reply.code !== 235) {
      throw new SmtpError("Invalid login", "EAUTH", reply, "AUTH");
    }
  }

  /**
   * Sends one message: MAIL, RCPT… and DATA pipelined when the server allows it, then the body.
   * Resolves with the final reply and the recipients refused while others were accepted.
   */
  async send(
    envelope: { from: string; to: string[] },
    message: Uint8Array | string,
  ): Promise<{ response: string; rejected: string[] }> {
    this.#ref(true);
    try {
      return await this.#send(envelope, message);
    } finally {
      this.#ref(false);
    }
  }

  async #send(
    envelope: { from: string; to: string[] },
    message: Uint8Array | string,
  ): Promise<{ response: string; rejected: string[] }> {
    if (envelope.to.length === 0) {
      throw new SmtpError("No recipients", "EENVELOPE");
    }
    const utf8 = this.#extensions.has("SMTPUTF8") &&
      !ASCII.test(envelope.from + envelope.to.join(""));
    const commands = [
      `MAIL FROM:<${envelope.from}>${utf8 ? " SMTPUTF8" : ""}`,
      ...envelope.to.map((to) => `RCPT TO:<${to}>`),
      "DATA",
    ];
    const replies: Reply[] = [];
    if (this.#extensions.has("PIPELINING")) {
      await this.#write(encoder.encode(commands.join("\r\n") + "\r\n"));
      for (const command of commands) replies.push(await this.#reply(command));
    } else {
      for (const command of commands) {
        const reply = await this.#command(command);
        replies.push(reply);
        // Without pipelining, stop at the first refusal that makes the rest pointless.
        if (command.startsWith("MAIL") && reply.code !== 250) break;
        if (
          command.startsWith("RCPT") && replies.length === commands.length - 1
        ) {
          if (replies.slice(1).every((r) => r.code !== 250 && r.code !== 251)) {
            break;
          }
        }
      }
    }
    const mail = replies[0]!;
    if (mail.code !== 250) {
      await this.#abortData(replies);
      throw new SmtpError(
        "Mail command failed",
        "EENVELOPE",
        mail,
        commands[0],
      );
    }
    const rejected: string[] = [];
    let firstRefusal: Reply | undefined;
    envelope.to.forEach((to, i) => {
      const reply = replies[i + 1];
      if (reply && reply.code !== 250 && reply.code !== 251) {
        rejected.push(to);
        firstRefusal ??= reply;
      }
    });
    if (rejected.length === envelope.to.length) {
      await this.#abortData(replies);
      throw new SmtpError(
        "Can't send mail - all recipients were rejected",
        "EENVELOPE",
        firstRefusal,
        "RCPT TO",
      );
    }
    const data = replies[commands.length - 1]!;
    if (data.code !== 354) {
      throw new SmtpError("Data command failed", "EENVELOPE", data, "DATA");
    }
    await this.#write(
      typeof message === "string"
        ? encoder.encode(dataText(message))
        : dataBytes(message),
    );
    const final = await this.#reply("end of data");
    if (final.code < 200 || final.code >= 300) {
      throw new SmtpError("Message failed", "EMESSAGE", final, "DATA");
    }
    return { response: final.text.replaceAll("\n", " "), rejected };
  }

  /** After a refused envelope: a DATA the server accepted anyway gets an empty body's final dot. */
  async #abortData(replies: Reply[]): Promise<void> {
    if (replies.at(-1)?.code !== 354) return;
    await this.#write(FINAL_DOT);
    await this.#reply("end of data");
  }

  /** RSET: the session is clean again after a refused message. */
  async reset(): Promise<void> {
    this.#ref(true);
    try {
      const reply = await this.#command("RSET");
      if (reply.code !== 250) {
        throw new SmtpError("RSET failed", "EPROTOCOL", reply, "RSET");
      }
    } finally {
      this.#ref(false);
    }
  }

  /** QUIT, then close; a server that does not answer within a second is closed on. */
  async quit(): Promise<void> {
    if (this.ended) return;
    try {
      await this.#write(encoder.encode("QUIT\r\n"));
      await withTimeout(this.#reply("QUIT"), 1000, "QUIT timeout");
    } catch {
      // closing anyway
    }
    this.close();
  }

  /** Closes the socket at once. */
  close(): void {
    this.#fail(new SmtpError("Connection closed", "ECONNECTION"));
  }

  #fail(error: SmtpError): void {
    if (this.#error) return;
    this.#error = error;
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    this.#wake?.();
    this.#options.onClose?.();
  }

  /** An idle session does not keep the process alive. */
  #ref(busy: boolean): void {
    try {
      if (busy) (this.#conn as Deno.TcpConn).ref?.();
      else (this.#conn as Deno.TcpConn).unref?.();
    } catch {
      // closed
    }
  }

  async #command(line: string, shown = line): Promise<Reply> {
    await this.#write(encoder.encode(line + "\r\n"), shown);
    return await this.#reply(shown);
  }

  async #write(bytes: Uint8Array, command?: string): Promise<void> {
    if (this.#error) throw this.#error;
    try {
      for (let at = 0; at < bytes.length;) {
        at += await this.#conn.write(at === 0 ? bytes : bytes.subarray(at));
      }
    } catch (err) {
      const error = new SmtpError(
        `Connection lost: ${(err as Error).message}`,
        socketCode(err),
        undefined,
        command,
      );
      this.#fail(error);
      throw error;
    }
  }

  /** The next complete reply (one or more lines, the last with a space after the code). */
  async #reply(command: string): Promise<Reply> {
    const deadline = Date.now() + this.#options.timeoutMs;
    while (true) {
      const reply = this.#take();
      if (reply) return reply;
      if (this.#error) {
        throw new SmtpError(
          this.#error.message,
          this.#error.code,
          undefined,
          command,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        const error = new SmtpError(
          `Timeout waiting for the reply to ${command}`,
          "ETIMEDOUT",
          undefined,
          command,
        );
        this.#fail(error);
        throw error;
      }
      await this.#more(left);
    }
  }

  #take(): Reply | undefined {
    let at = 0;
    while (true) {
      const end = this.#buffer.indexOf("\n", at);
      if (end < 0) return undefined;
      if (this.#buffer[at + 3] !== "-") {
        const text = this.#buffer.slice(0, end).replace(/\r?\n?$/, "")
          .replaceAll("\r\n", "\n");
        this.#buffer = this.#buffer.slice(end + 1);
        this.#replies++;
        const code = Number(text.slice(0, 3));
        if (!Number.isInteger(code) || code < 200) {
          this.#fail(new SmtpError("Invalid reply", "EPROTOCOL"));
          return { code: 0, text };
        }
        return { code, text };
      }
      at = end + 1;
    }
  }

  /** Waits for more input: reads directly during start-up, else until the read loop brings some. */
  async #more(ms: number): Promise<void> {
    if (!this.#loop) {
      const chunk = new Uint8Array(4096);
      const n = await withTimeout(this.#conn.read(chunk), ms, "").catch(
        (err) => {
          if (err instanceof SmtpError && err.code === "ETIMEDOUT") return -1;
          this.#fail(
            new SmtpError(`Connection lost: ${err.message}`, socketCode(err)),
          );
          return -1;
        },
      );
      if (n === null) {
        this.#fail(
          new SmtpError("Connection closed by the SMTP server", "ECONNECTION"),
        );
      } else if (n > 0) this.#buffer += latin1.decode(chunk.subarray(0, n));
      return;
    }
    // No timer per reply: one watchdog for every waiting session wakes those past their deadline.
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      this.#deadline = Date.now() + ms;
      SmtpConn.#watch(this);
    });
    this.#wake = undefined;
    SmtpConn.#waiting.delete(this);
  }

  /** Sessions waiting for input after start-up, checked by one interval timer. */
  static #waiting = new Set<SmtpConn>();
  static #watchdog: ReturnType<typeof setInterval> | undefined;
  #deadline = 0;

  static #watch(session: SmtpConn): void {
    SmtpConn.#waiting.add(session);
    if (SmtpConn.#watchdog !== undefined) return;
    // Unreferenced: a busy session's socket keeps the process alive, the watchdog does not.
    SmtpConn.#watchdog = setInterval(() => {
      const now = Date.now();
      for (const waiting of SmtpConn.#waiting) {
        if (now >= waiting.#deadline) waiting.#wake?.();
      }
      if (SmtpConn.#waiting.size === 0) {
        clearInterval(SmtpConn.#watchdog);
        SmtpConn.#watchdog = undefined;
      }
    }, WATCHDOG_MS);
    Deno.unrefTimer(SmtpConn.#watchdog as unknown as number);
  }

  async #readLoop(): Promise<void> {
    const chunk = new Uint8Array(16384);
    this.#ref(false);
    while (!this.#error) {
      let n: number | null;
      try {
        n = await this.#conn.read(chunk);
      } catch (err) {
        this.#fail(
          new SmtpError(
            `Connection lost: ${(err as Error).message}`,
            socketCode(err),
          ),
        );
        return;
      }
      if (n === null) {
        this.#fail(
          new SmtpError("Connection closed by the SMTP server", "ECONNECTION"),
        );
        return;
      }
      this.#buffer += latin1.decode(chunk.subarray(0, n));
      this.#wake?.();
    }
  }
}
