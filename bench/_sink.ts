/**
 * A lean loopback SMTP sink for the benchmarks, on `Deno.listen` only: it accepts every message,
 * keeps none of it, and notes when each Message-ID arrived. It replaces npm `smtp-server` (Node
 * compat), whose CPU cost competed with the service under test on the same cores.
 *
 * Enough SMTP for a well-behaved client: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT, with
 * PIPELINING (RFC 2920), 8BITMIME and SIZE advertised; no STARTTLS and no AUTH (502). Input is a
 * byte stream: commands may share a read or be split across reads, and a DATA body may arrive in
 * the same read as the DATA command. The replies to all complete commands of one read go out in
 * one write. Only the header section of a message (up to the first empty line, at most 8 KiB) is
 * looked at; the body is scanned for the `CRLF . CRLF` terminator and dropped (so dot-stuffing
 * needs no undoing).
 *
 * Run `deno run -A bench/_sink.ts` for a self-check (nodemailer and a pipelining raw client).
 *
 * @module
 */

/** A running sink. */
export interface Sink {
  /** The loopback port it listens on. */
  port: number;
  /** Message-ID header value (`<id@host>`) → `performance.now()` when its final `.` line arrived (first arrival only). */
  arrivals: Map<string, number>;
  /** Closes the listener and every connection; resolves once the accept loop and the connections have ended. */
  close(): Promise<void>;
}

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
/** The CRLF that ends the DATA command line, which the body terminator `CRLF . CRLF` may share. */
const CRLF = new Uint8Array([CR, LF]);
/** At most this much of a message is kept to look for its Message-ID. */
const HEAD_CAP = 8192;
/** A command line longer than this (without a line feed) drops the connection. */
const LINE_CAP = 4096;
const EHLO_REPLY =
  "250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n";

const latin1 = new TextDecoder("latin1");
const encoder = new TextEncoder();

/** Starts a sink on 127.0.0.1 with a free port. */
export function startSink(): Promise<Sink> {
  const arrivals = new Map<string, number>();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const sessions = new Set<Promise<void>>();
  const loop = (async () => {
    try {
      for await (const conn of listener) {
        conns.add(conn);
        const session = serve(conn, arrivals).finally(() => {
          conns.delete(conn);
          sessions.delete(session);
        });
        sessions.add(session);
      }
    } catch {
      // the listener was closed
    }
  })();
  return Promise.resolve({
    port: (listener.addr as Deno.NetAddr).port,
    arrivals,
    async close() {
      try {
        listener.close();
      } catch {
        // already closed
      }
      for (const conn of conns) closeQuietly(conn);
      await loop;
      await Promise.allSettled([...sessions]);
    },
  });
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) {
    at += await conn.write(bytes.subarray(at));
  }
}

/** `a` followed by `b`, in a new array. */
function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Where `CRLF . CRLF` starts in `bytes`, or -1 (searches for the dot natively, then checks around it). */
function findTerminator(bytes: Uint8Array): number {
  for (let i = bytes.indexOf(DOT, 2); i >= 0; i = bytes.indexOf(DOT, i + 1)) {
    if (
      bytes[i - 2] === CR && bytes[i - 1] === LF && bytes[i + 1] === CR &&
      bytes[i + 2] === LF
    ) return i - 2;
  }
  return -1;
}

/** The Message-ID value in `head` (a CRLF, then the start of a message), or undefined. */
function messageId(head: string): string | undefined {
  const end = head.indexOf("\r\n\r\n");
  const headers = end < 0 ? head : head.slice(0, end);
  const match = /\r\nmessage-id:[ \t]*((?:\r\n[ \t]|[^\r])*)/i.exec(headers);
  const value = match?.[1]?.replace(/\r\n[ \t]/g, " ").trim();
  return value ? value : undefined;
}

/** One SMTP session, until QUIT, the client leaving or `close()`; never throws. */
async function serve(
  conn: Deno.Conn,
  arrivals: Map<string, number>,
): Promise<void> {
  const buffer = new Uint8Array(65536);
  /** Unprocessed bytes from earlier reads (a partial command line, or the last bytes of a body). */
  let carry = new Uint8Array(0);
  let inData = false;
  /** Latin-1 text of the message so far (up to HEAD_CAP), starting with the DATA line's CRLF. */
  let head = "";
  let headDone = false;
  let mail = false;
  let rcpt = false;
  try {
    try {
      (conn as Deno.TcpConn).setNoDelay(true);
    } catch {
      // not a TCP connection
    }
    await writeAll(conn, encoder.encode("220 sink ESMTP\r\n"));
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) return;
      let bytes = carry.length > 0
        ? concat(carry, buffer.subarray(0, n))
        : buffer.subarray(0, n);
      /** Where in `bytes` the bytes not yet added to `head` start (the carried ones already were). */
      let fresh = carry.length;
      let at = 0;
      let out = "";
      let quit = false;
      while (at < bytes.length && !quit) {
        if (inData) {
          const end = findTerminator(bytes);
          const upto = end < 0 ? bytes.length : end;
          if (!headDone && fresh < upto) {
            head += latin1.decode(
              bytes.subarray(
                fresh,
                Math.min(upto, fresh + HEAD_CAP - head.length),
              ),
            );
            headDone = head.length >= HEAD_CAP || head.includes("\r\n\r\n");
          }
          if (end < 0) {
            // Keep the last 4 bytes: they may be the start of the terminator.
            at = Math.max(0, bytes.length - 4);
            fresh = bytes.length - at;
            break;
          }
          const id = messageId(head);
          if (id !== undefined && !arrivals.has(id)) {
            arrivals.set(id, performance.now());
          }
          out += "250 2.0.0 Ok: queued\r\n";
          inData = mail = rcpt = false;
          bytes = bytes.subarray(end + 5);
          at = fresh = 0;
          continue;
        }
        const lf = bytes.indexOf(LF, at);
        if (lf < 0) {
          if (bytes.length - at > LINE_CAP) return;
          break;
        }
        const line = latin1.decode(
          bytes.subarray(at, lf > at && bytes[lf - 1] === CR ? lf - 1 : lf),
        );
        at = lf + 1;
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === "EHLO" && line.length > 4) {
          mail = rcpt = false;
          out += EHLO_REPLY;
        } else if (verb === "HELO" && line.length > 4) {
          mail = rcpt = false;
          out += "250 sink\r\n";
        } else if (/^MAIL FROM:/i.test(line)) {
          if (mail) out += "503 5.5.1 Error: nested MAIL command\r\n";
          else {
            mail = true;
            out += "250 2.1.0 Ok\r\n";
          }
        } else if (/^RCPT TO:/i.test(line)) {
          if (!mail) out += "503 5.5.1 Error: need MAIL command\r\n";
          else {
            rcpt = true;
            out += "250 2.1.5 Ok\r\n";
          }
        } else if (verb === "DATA" && line.length === 4) {
          if (!rcpt) out += "503 5.5.1 Error: need RCPT command\r\n";
          else {
            out += "354 End data with <CR><LF>.<CR><LF>\r\n";
            inData = true;
            head = "";
            headDone = false;
            // The body's terminator may share the CRLF that ended this line.
            bytes = concat(CRLF, bytes.subarray(at));
            at = fresh = 0;
          }
        } else if (verb === "RSET" && line.length === 4) {
          mail = rcpt = false;
          out += "250 2.0.0 Ok\r\n";
        } else if (verb === "NOOP") {
          out += "250 2.0.0 Ok\r\n";
        } else if (verb === "QUIT" && line.length === 4) {
          out += "221 2.0.0 Bye\r\n";
          quit = true;
        } else {
          out += "502 5.5.2 Error: command not recognized\r\n";
        }
      }
      // `bytes` may be a view of `buffer`, which the next read overwrites.
      carry = bytes.slice(at);
      if (out) await writeAll(conn, encoder.encode(out));
      if (quit) return;
    }
  } catch {
    // the client dropped the connection, or close() closed it
  } finally {
    closeQuietly(conn);
  }
}

/** Reads from `conn` until the text received matches `pattern`; returns all of it. */
async function readUntil(conn: Deno.Conn, pattern: RegExp): Promise<string> {
  const buffer = new Uint8Array(4096);
  let text = "";
  while (!pattern.test(text)) {
    const n = await conn.read(buffer);
    if (n === null) {
      throw new Error(`Connection closed; got ${JSON.stringify(text)}`);
    }
    text += latin1.decode(buffer.subarray(0, n));
  }
  return text;
}

/** Self-check: two messages from nodemailer over one pooled connection, two from a pipelining raw client. */
async function selfCheck(): Promise<void> {
  // Imported here so that importing the sink loads neither into the benchmark process.
  const assert: typeof import("node:assert/strict") =
    (await import("node:assert/strict")).default;
  const nodemailer = (await import("nodemailer")).default;
  const sink = await startSink();
  try {
    const transport = nodemailer.createTransport({
      host: "127.0.0.1",
      port: sink.port,
      secure: false,
      ignoreTLS: true,
      pool: true,
      maxConnections: 1,
      logger: false,
    });
    for (const n of [1, 2]) {
      const info = await transport.sendMail({
        from: "a@example.test",
        to: "b@example.test",
        subject: `message ${n}`,
        text: `.leading dot\nline ${n}\n.\n`,
      });
      assert.ok(sink.arrivals.has(info.messageId), info.messageId);
    }
    transport.close();

    const conn = await Deno.connect({ hostname: "127.0.0.1", port: sink.port });
    const send = (text: string) => writeAll(conn, encoder.encode(text));
    try {
      await readUntil(conn, /^220 /m);
      await send("EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
      const replies = await readUntil(conn, /^354 /m);
      assert.match(
        replies,
        /^250-PIPELINING\r\n(.*\r\n)*250 2\.1\.0 .*\r\n250 2\.1\.5 .*\r\n354 /m,
      );
      // A dot-stuffed line, and the terminator split across two writes.
      await send(
        "Message-ID: <raw-1@x>\r\nSubject: t\r\n\r\n..leading dot\r\n.",
      );
      await new Promise((resolve) => setTimeout(resolve, 20));
      await send("\r\n");
      await readUntil(conn, /^250 2\.0\.0 Ok: queued\r\n/m);
      // A whole transaction, body included, and QUIT in one write.
      await send(
        "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nmessage-id:\r\n <raw-2@x>\r\n\r\nbody\r\n.\r\nAUTH PLAIN x\r\nQUIT\r\n",
      );
      const last = await readUntil(conn, /^221 /m);
      assert.match(
        last,
        /^354 .*\r\n250 2\.0\.0 Ok: queued\r\n502 .*\r\n221 /m,
      );
    } finally {
      closeQuietly(conn);
    }
    assert.ok(sink.arrivals.has("<raw-1@x>"));
    assert.ok(sink.arrivals.has("<raw-2@x>"));
    assert.equal(sink.arrivals.size, 4);
  } finally {
    await sink.close();
  }
  console.log("OK");
}

if (import.meta.main) await selfCheck();
