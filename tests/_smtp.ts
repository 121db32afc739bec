/**
 * A real SMTP server on loopback for tests: records every accepted message with its envelope,
 * its raw bytes and mailparser's reading of it.
 *
 * @example
 * ```ts
 * const server = await startSmtpServer();
 * try {
 *   // … send a message to server.url …
 *   const [mail] = await server.waitFor(1);
 * } finally {
 *   await server.close();
 * }
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { SMTPServer } from "smtp-server";
import { simpleParser } from "mailparser";
import type { ParsedMail } from "mailparser";

/** One message the server accepted. */
export interface ReceivedMail {
  envelope: { from: string; to: string[] };
  raw: string;
  parsed: import("mailparser").ParsedMail;
}

/** A running test server; close it in `finally`. */
export interface TestSmtpServer {
  port: number;
  /** `smtp://127.0.0.1:PORT` */
  url: string;
  /** Accepted messages, in order of arrival. */
  messages: ReceivedMail[];
  /** AUTH commands the server received (the plain server offers no STARTTLS: each was in clear). */
  authAttempts: number;
  /** Resolves with the messages once at least `count` arrived; rejects after `timeoutMs` (default 30_000: a bound, not a timing). */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedMail[]>;
  /** Answers the next `count` messages with a 451 (transient), as `failFirst` does at the start. */
  failNext(count: number): void;
  close(): Promise<void>;
}

/** Starts an npm smtp-server on 127.0.0.1 with a random port; AUTH optional; STARTTLS disabled. `failFirst: n` answers the first n messages with a 451 (transient). */
export async function startSmtpServer(
  options: {
    /** Messages to refuse with 451 before accepting any. @default 0 */
    failFirst?: number;
    /** Required credentials; without them AUTH is optional and any login is accepted. */
    auth?: { user: string; pass: string };
    /** Each message's answer waits for this (a relay that is slow to answer). */
    hold?: Promise<unknown>;
  } = {},
): Promise<TestSmtpServer> {
  const messages: ReceivedMail[] = [];
  const waiters = new Set<() => void>();
  let toFail = options.failFirst ?? 0;
  const auth = options.auth;

  const server = new SMTPServer({
    name: "localhost",
    logger: false,
    disableReverseLookup: true,
    disabledCommands: ["STARTTLS"],
    authOptional: auth === undefined,
    allowInsecureAuth: true,
    // A client that never quits is cut off quickly instead of holding close() for 30 s.
    closeTimeout: 1000,
    onAuth(login, _session, callback) {
      result.authAttempts++;
      if (
        auth === undefined ||
        (login.username === auth.user && login.password === auth.pass)
      ) {
        return callback(null, { user: login.username ?? "" });
      }
      callback(
        Object.assign(new Error("Invalid username or password"), {
          responseCode: 535,
        }),
      );
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("error", (err: Error) => callback(err));
      stream.on("end", async () => {
        await options.hold;
        if (toFail > 0) {
          toFail--;
          return callback(
            Object.assign(new Error("Try again later"), { responseCode: 451 }),
          );
        }
        const bytes = Buffer.concat(chunks);
        const from = session.envelope.mailFrom;
        const envelope = {
          from: from === false ? "" : from.address,
          to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
        };
        simpleParser(bytes).then((parsed: ParsedMail) => {
          messages.push({
            envelope,
            raw: new TextDecoder().decode(bytes),
            parsed,
          });
          for (const wake of waiters) wake();
          callback();
        }, (err: Error) => callback(err));
      });
    },
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      const address = server.server.address();
      if (address === null || typeof address === "string") {
        return reject(new Error("Cannot read the server port"));
      }
      resolve(address.port);
    });
  });
  // Errors after start-up (a client dropping its connection) are not test failures.
  server.on("error", () => {});

  let closing: Promise<void> | undefined;
  const result: TestSmtpServer = {
    port,
    url: `smtp://127.0.0.1:${port}`,
    messages,
    authAttempts: 0,
    failNext(count) {
      toFail = count;
    },
    waitFor(count, timeoutMs = 30_000) {
      if (messages.length >= count) return Promise.resolve(messages.slice());
      return new Promise((resolve, reject) => {
        const wake = () => {
          if (messages.length < count) return;
          done();
          resolve(messages.slice());
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(
              `Expected ${count} messages within ${timeoutMs} ms, got ${messages.length}`,
            ),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(wake);
        };
        waiters.add(wake);
      });
    },
    close() {
      closing ??= new Promise<void>((resolve) => server.close(() => resolve()));
      return closing;
    },
  };
  return result;
}
