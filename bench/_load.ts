/**
 * A lean HTTP/1.1 keep-alive load client for the benchmarks, on `Deno.connect` only (loopback,
 * plain TCP). It replaces `fetch` in the load loops, whose CPU cost in the bench process competed
 * with the service under test on the same cores.
 *
 * Each connection sends one request at a time (no pipelining): write the request, read the whole
 * response, repeat. The request bytes are encoded once and reused. Responses are parsed from one
 * reused read buffer per connection: the header block is found by a byte scan, the status line and
 * the few headers that matter (`Content-Length`, `Transfer-Encoding: chunked`, `Connection: close`)
 * are read from the bytes, and only the body is decoded (one `TextDecoder` call per response).
 *
 * Run `deno run -A bench/_load.ts` for a self-check against a local `Deno.serve`.
 *
 * @module
 */

/** Options of {@link postMany}. */
export interface PostManyOptions {
  /** Origin of the server, e.g. `http://127.0.0.1:8080` (plain HTTP, loopback host only). */
  url: string;
  /** Request target, e.g. `/ingest/bench`. */
  path: string;
  /** Request headers (e.g. `Content-Type`, `Authorization`); `Host` defaults to the URL's, `Content-Length` is set from `body`. */
  headers: Record<string, string>;
  /** The request body, sent with every request. */
  body: string;
  /** How many requests to send in all. */
  total: number;
  /** How many keep-alive connections to send them on, one request in flight on each. */
  connections: number;
  /**
   * Called once per response, in the order the responses complete; `sentAt` is `performance.now()`
   * just before that request was written. An exception stops the run and rejects {@link postMany}.
   */
  onResponse(status: number, body: string, sentAt: number): void;
}

const CR = 0x0d;
const LF = 0x0a;
const COLON = 0x3a;
const SPACE = 0x20;
const TAB = 0x09;
/** A header block (status line + headers) longer than this is an error. */
const HEAD_CAP = 64 * 1024;
/** Initial size of each connection's read buffer; it grows to fit the largest response. */
const BUFFER_SIZE = 64 * 1024;
/** Read into at least this much free space (compacting or growing the buffer first). */
const MIN_READ = 4096;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const latin1 = new TextDecoder("latin1");

const NAME_CONTENT_LENGTH = encoder.encode("content-length");
const NAME_TRANSFER_ENCODING = encoder.encode("transfer-encoding");
const NAME_CONNECTION = encoder.encode("connection");

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])$/;

/**
 * POSTs the same request `total` times over `connections` keep-alive HTTP/1.1 connections to a
 * loopback server, one request in flight per connection, and reports each response to
 * `onResponse`. A response with `Connection: close` makes that connection reconnect.
 *
 * Resolves once all `total` responses were handled and every connection is closed. Rejects (after
 * closing every connection) on the first error: a connection closed before its response was
 * complete, a malformed status line or header block, a response without `Content-Length` that is
 * not chunked, or an exception from `onResponse`.
 *
 * @example
 * ```ts
 * await postMany({
 *   url: "http://127.0.0.1:8080",
 *   path: "/ingest/bench",
 *   headers: { "Content-Type": "application/json", Authorization: "Bearer t" },
 *   body: JSON.stringify({ a: 1 }),
 *   total: 10_000,
 *   connections: 32,
 *   onResponse(status, body, sentAt) {
 *     if (status !== 202) throw new Error(`${status}: ${body}`);
 *   },
 * });
 * ```
 */
export async function postMany(options: PostManyOptions): Promise<void> {
  const url = new URL(options.url);
  if (url.protocol !== "http:") {
    throw new Error(`postMany: only http: URLs, not ${url.protocol}`);
  }
  if (!LOOPBACK.test(url.hostname)) {
    throw new Error(`postMany: only loopback hosts, not ${url.hostname}`);
  }
  const hostname = url.hostname === "[::1]" ? "::1" : url.hostname;
  const port = url.port === "" ? 80 : Number(url.port);
  const request = encodeRequest(url.host, options);
  const { total, onResponse } = options;
  const connections = Math.max(
    0,
    Math.min(Math.floor(options.connections), total),
  );
  if (total > 0 && connections < 1) {
    throw new Error("postMany: connections must be at least 1");
  }

  let sent = 0;
  let failure: { error: unknown } | undefined;

  const worker = async (): Promise<void> => {
    let conn: Deno.TcpConn | undefined;
    const reader = new ResponseReader();
    try {
      while (failure === undefined && sent < total) {
        if (conn === undefined) {
          conn = await Deno.connect({ hostname, port });
          conn.setNoDelay(true);
          reader.reset(conn);
          if (failure !== undefined || sent >= total) break;
        }
        sent++;
        const sentAt = performance.now();
        await writeAll(conn, request);
        const status = await reader.read();
        onResponse(status, reader.body, sentAt);
        if (reader.close) {
          conn.close();
          conn = undefined;
        }
      }
    } catch (error) {
      failure ??= { error };
    } finally {
      try {
        conn?.close();
      } catch {
        // already closed
      }
    }
  };

  await Promise.all(Array.from({ length: connections }, worker));
  if (failure !== undefined) throw failure.error;
}

/** The request line, headers and body, encoded once. */
function encodeRequest(host: string, options: PostManyOptions): Uint8Array {
  const body = encoder.encode(options.body);
  const check = (text: string, what: string) => {
    if (/[\r\n]/.test(text)) {
      throw new Error(
        `postMany: line break in ${what} ${JSON.stringify(text)}`,
      );
    }
  };
  check(options.path, "path");
  const path = options.path.startsWith("/") ? options.path : `/${options.path}`;
  let head = `POST ${path} HTTP/1.1\r\n`;
  let hasHost = false;
  for (const [name, value] of Object.entries(options.headers)) {
    check(name, "header name");
    check(value, "header value");
    const lower = name.toLowerCase();
    if (lower === "content-length" || lower === "transfer-encoding") continue;
    if (lower === "host") hasHost = true;
    head += `${name}: ${value}\r\n`;
  }
  if (!hasHost) head = head.replace("\r\n", `\r\nHost: ${host}\r\n`);
  head += `Content-Length: ${body.length}\r\n\r\n`;
  const headBytes = encoder.encode(head);
  const bytes = new Uint8Array(headBytes.length + body.length);
  bytes.set(headBytes);
  bytes.set(body, headBytes.length);
  return bytes;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = await conn.write(bytes);
  while (written < bytes.length) {
    written += await conn.write(bytes.subarray(written));
  }
}

/** Reads HTTP/1.1 responses from one connection into a reused buffer. */
class ResponseReader {
  #conn: Deno.Conn | undefined;
  #buf = new Uint8Array(BUFFER_SIZE);
  /** Unconsumed bytes are `#buf[#start, #end)`. */
  #start = 0;
  #end = 0;
  /** Chunked bodies are assembled here (allocated on first use, then reused). */
  #chunks: Uint8Array | undefined;
  /** The last response's body, decoded. */
  body = "";
  /** Whether the last response said `Connection: close`. */
  close = false;

  /** Starts reading from a new connection (any leftover bytes are dropped). */
  reset(conn: Deno.Conn): void {
    this.#conn = conn;
    this.#start = 0;
    this.#end = 0;
  }

  /** Reads one whole response (skipping interim 1xx ones); returns its status and sets `body` and `close`. */
  async read(): Promise<number> {
    for (;;) {
      const status = await this.#readOne();
      if (status >= 200 || status === 101) return status;
    }
  }

  async #readOne(): Promise<number> {
    // Find the end of the header block, scanning only bytes not scanned before.
    let scan = this.#start;
    let headEnd = -1;
    for (;;) {
      const buf = this.#buf;
      const end = this.#end;
      for (let i = Math.max(scan, this.#start + 3); i < end; i++) {
        if (
          buf[i] === LF && buf[i - 1] === CR && buf[i - 2] === LF &&
          buf[i - 3] === CR
        ) {
          headEnd = i + 1;
          break;
        }
      }
      if (headEnd !== -1) break;
      if (end - this.#start > HEAD_CAP) {
        throw new Error(
          `postMany: response header block longer than ${HEAD_CAP} bytes`,
        );
      }
      scan = end;
      const startBefore = this.#start;
      await this.#fill(
        end === startBefore ? "before a response" : "mid-response",
      );
      scan -= startBefore - this.#start; // the buffer may have been compacted
    }

    const buf = this.#buf;
    const start = this.#start;
    const status = parseStatusLine(buf, start, headEnd);

    // Headers: only the ones that frame the body or end the connection.
    let contentLength = -1;
    let chunked = false;
    let close = false;
    let line = indexOfCrlf(buf, start, headEnd) + 2;
    while (line < headEnd - 2) {
      const lineEnd = indexOfCrlf(buf, line, headEnd);
      let colon = line;
      while (colon < lineEnd && buf[colon] !== COLON) colon++;
      if (colon === lineEnd || colon === line) {
        throw new Error(
          `postMany: malformed response header ${
            JSON.stringify(latin1.decode(buf.subarray(line, lineEnd)))
          }`,
        );
      }
      let vs = colon + 1;
      let ve = lineEnd;
      while (vs < ve && (buf[vs] === SPACE || buf[vs] === TAB)) vs++;
      while (ve > vs && (buf[ve - 1] === SPACE || buf[ve - 1] === TAB)) ve--;
      if (nameIs(buf, line, colon, NAME_CONTENT_LENGTH)) {
        let n = 0;
        if (vs === ve) n = -1;
        for (let i = vs; i < ve; i++) {
          const d = buf[i]! - 0x30;
          if (d < 0 || d > 9) {
            n = -1;
            break;
          }
          n = n * 10 + d;
        }
        if (n < 0 || (contentLength !== -1 && contentLength !== n)) {
          throw new Error(
            `postMany: bad Content-Length ${
              JSON.stringify(latin1.decode(buf.subarray(vs, ve)))
            }`,
          );
        }
        contentLength = n;
      } else if (nameIs(buf, line, colon, NAME_TRANSFER_ENCODING)) {
        const value = latin1.decode(buf.subarray(vs, ve)).toLowerCase();
        chunked = /(^|,)\s*chunked\s*$/.test(value);
      } else if (nameIs(buf, line, colon, NAME_CONNECTION)) {
        const value = latin1.decode(buf.subarray(vs, ve)).toLowerCase();
        if (/(^|,)\s*close\s*(,|$)/.test(value)) close = true;
      }
      line = lineEnd + 2;
    }
    if (buf[start + 7] === 0x30) close = true; // HTTP/1.0: no keep-alive
    this.close = close;
    this.#start = headEnd;

    if (status === 204 || status === 304 || (status >= 100 && status < 200)) {
      this.body = "";
    } else if (chunked) {
      this.body = await this.#readChunked();
    } else if (contentLength >= 0) {
      while (this.#end - this.#start < contentLength) {
        await this.#fill("mid-response", contentLength);
      }
      this.body = contentLength === 0 ? "" : decoder.decode(
        this.#buf.subarray(this.#start, this.#start + contentLength),
      );
      this.#start += contentLength;
    } else {
      throw new Error(
        `postMany: response ${status} has neither Content-Length nor chunked Transfer-Encoding`,
      );
    }
    if (this.#start === this.#end) this.#start = this.#end = 0;
    return status;
  }

  /** Reads a chunked body (after the header block) and its trailers. */
  async #readChunked(): Promise<string> {
    let size = 0;
    for (;;) {
      // Chunk-size line: hex digits, optional extensions, CRLF.
      let lineEnd: number;
      while ((lineEnd = indexOfCrlf(this.#buf, this.#start, this.#end)) < 0) {
        if (this.#end - this.#start > HEAD_CAP) {
          throw new Error("postMany: chunk-size line too long");
        }
        await this.#fill("mid-response");
      }
      const buf = this.#buf;
      let n = 0;
      let i = this.#start;
      for (; i < lineEnd; i++) {
        const c = buf[i]!;
        const d = c >= 0x30 && c <= 0x39
          ? c - 0x30
          : (c | 0x20) >= 0x61 && (c | 0x20) <= 0x66
          ? (c | 0x20) - 0x61 + 10
          : -1;
        if (d < 0) break;
        n = n * 16 + d;
      }
      if (
        i === this.#start ||
        (i < lineEnd && buf[i] !== 0x3b && buf[i] !== SPACE && buf[i] !== TAB)
      ) {
        throw new Error(
          `postMany: malformed chunk-size line ${
            JSON.stringify(latin1.decode(buf.subarray(this.#start, lineEnd)))
          }`,
        );
      }
      this.#start = lineEnd + 2;
      if (n === 0) break;
      // Chunk data and its CRLF.
      while (this.#end - this.#start < n + 2) {
        await this.#fill("mid-response", n + 2);
      }
      const data = this.#buf.subarray(this.#start, this.#start + n);
      if (
        this.#buf[this.#start + n] !== CR ||
        this.#buf[this.#start + n + 1] !== LF
      ) {
        throw new Error("postMany: chunk data not followed by CRLF");
      }
      let chunks = this.#chunks;
      if (chunks === undefined || chunks.length < size + n) {
        const grown = new Uint8Array(
          Math.max(size + n, (chunks?.length ?? 0) * 2, BUFFER_SIZE),
        );
        if (chunks !== undefined) grown.set(chunks.subarray(0, size));
        this.#chunks = chunks = grown;
      }
      chunks.set(data, size);
      size += n;
      this.#start += n + 2;
    }
    // Trailer section: header lines up to an empty line.
    for (;;) {
      let lineEnd: number;
      while ((lineEnd = indexOfCrlf(this.#buf, this.#start, this.#end)) < 0) {
        if (this.#end - this.#start > HEAD_CAP) {
          throw new Error("postMany: trailer section too long");
        }
        await this.#fill("mid-response");
      }
      const empty = lineEnd === this.#start;
      this.#start = lineEnd + 2;
      if (empty) break;
    }
    return size === 0 ? "" : decoder.decode(this.#chunks!.subarray(0, size));
  }

  /**
   * Reads more bytes into the buffer, compacting or growing it so that at least `need` unconsumed
   * bytes fit. Throws if the peer closed the connection.
   */
  async #fill(where: string, need = 0): Promise<void> {
    const unconsumed = this.#end - this.#start;
    if (
      this.#start + need > this.#buf.length ||
      this.#buf.length - this.#end < MIN_READ
    ) {
      const want = Math.max(need, unconsumed + MIN_READ);
      if (want <= this.#buf.length) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        let length = this.#buf.length * 2;
        while (length < want) length *= 2;
        const grown = new Uint8Array(length);
        grown.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = grown;
      }
      this.#start = 0;
      this.#end = unconsumed;
    }
    const n = await this.#conn!.read(this.#buf.subarray(this.#end));
    if (n === null) {
      throw new Error(
        `postMany: the server closed the connection ${where}` +
          (unconsumed > 0 ? ` (${unconsumed} bytes of it received)` : ""),
      );
    }
    this.#end += n;
  }
}

/** Parses `HTTP/1.x NNN[ reason]` at the start of the header block; returns the status code. */
function parseStatusLine(
  buf: Uint8Array,
  start: number,
  headEnd: number,
): number {
  const lineEnd = indexOfCrlf(buf, start, headEnd);
  const ok = lineEnd - start >= 12 &&
    buf[start] === 0x48 && buf[start + 1] === 0x54 && // HT
    buf[start + 2] === 0x54 && buf[start + 3] === 0x50 && // TP
    buf[start + 4] === 0x2f && buf[start + 5] === 0x31 && // /1
    buf[start + 6] === 0x2e && // .
    (buf[start + 7] === 0x30 || buf[start + 7] === 0x31) &&
    buf[start + 8] === SPACE &&
    isDigit(buf[start + 9]!) && isDigit(buf[start + 10]!) &&
    isDigit(buf[start + 11]!) &&
    (lineEnd - start === 12 || buf[start + 12] === SPACE);
  if (!ok) {
    throw new Error(
      `postMany: malformed status line ${
        JSON.stringify(
          latin1.decode(buf.subarray(start, Math.max(start, lineEnd))),
        )
      }`,
    );
  }
  return (buf[start + 9]! - 0x30) * 100 + (buf[start + 10]! - 0x30) * 10 +
    (buf[start + 11]! - 0x30);
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Index of the first CRLF in `buf[from, to)`, or -1. */
function indexOfCrlf(buf: Uint8Array, from: number, to: number): number {
  for (let i = from; i + 1 < to; i++) {
    if (buf[i] === CR && buf[i + 1] === LF) return i;
  }
  return -1;
}

/** Whether `buf[from, to)` equals the lower-case ASCII `name`, ignoring case. */
function nameIs(
  buf: Uint8Array,
  from: number,
  to: number,
  name: Uint8Array,
): boolean {
  if (to - from !== name.length) return false;
  for (let i = 0; i < name.length; i++) {
    if ((buf[from + i]! | 0x20) !== name[i]) return false;
  }
  return true;
}

async function selfCheck(): Promise<void> {
  const assert: typeof import("node:assert/strict") =
    (await import("node:assert/strict")).default;
  let counter = 0;
  const peers = new Set<number>();
  const pad = "x".repeat(20_000);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req, info) => {
      peers.add(info.remoteAddr.port);
      assert.equal(req.method, "POST");
      assert.equal(new URL(req.url).pathname, "/ingest/test");
      assert.equal(req.headers.get("authorization"), "Bearer t");
      assert.equal(req.headers.get("content-type"), "application/json");
      assert.deepEqual(await req.json(), { a: "é", b: [1, 2, 3] });
      const n = ++counter;
      const headers: Record<string, string> = {
        "content-type": "application/json",
      };
      if (n % 13 === 0) headers.connection = "close";
      if (n % 11 === 0) {
        // A streamed body: Deno.serve sends it chunked, in several chunks.
        const parts = [`{"n":${n},`, `"pad":"${pad}`, `","s":"é"}`];
        const stream = new ReadableStream<Uint8Array>({
          pull(controller) {
            const part = parts.shift();
            if (part === undefined) controller.close();
            else controller.enqueue(encoder.encode(part));
          },
        });
        return new Response(stream, { status: 202, headers });
      }
      const body = n % 7 === 0
        ? JSON.stringify({ n, pad, s: "é" })
        : JSON.stringify({ n, s: "é" });
      return new Response(body, { status: 202, headers });
    },
  );
  const total = 2000;
  const seen: number[] = [];
  let big = 0;
  await postMany({
    url: `http://127.0.0.1:${server.addr.port}`,
    path: "/ingest/test",
    headers: { "Content-Type": "application/json", Authorization: "Bearer t" },
    body: JSON.stringify({ a: "é", b: [1, 2, 3] }),
    total,
    connections: 16,
    onResponse(status, body, sentAt) {
      assert.equal(status, 202, body);
      assert.ok(sentAt > 0 && sentAt <= performance.now());
      const json = JSON.parse(body) as { n: number; pad?: string; s: string };
      assert.equal(json.s, "é");
      if (json.n % 7 === 0 || json.n % 11 === 0) {
        assert.equal(json.pad, pad);
        big++;
      }
      seen.push(json.n);
    },
  });
  assert.equal(seen.length, total);
  assert.deepEqual(
    seen.toSorted((a, b) => a - b),
    Array.from({ length: total }, (_, i) => i + 1),
  );
  assert.equal(counter, total);
  const closes = Math.floor(total / 13);
  assert.ok(
    peers.size > 16 && peers.size <= 16 + closes,
    `connections: ${peers.size}`,
  );
  // A raw server on one connection: an interim 100 and the final response in one write, a chunked
  // response written a byte at a time, then a 100 KB response (larger than the read buffer) with
  // Connection: close, after which the client must reconnect for the last request.
  {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const big = "y".repeat(100_000);
    const replies = [
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\ncontent-length: 4\r\n\r\none!",
      "HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n" +
      "3;ext=1\r\ntwo\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n",
      `HTTP/1.1 202 Accepted\r\nConnection: close\r\nContent-Length: ${big.length}\r\n\r\n${big}`,
      "HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\nlast",
    ];
    const accept = (async () => {
      for (let i = 0; i < replies.length;) {
        const conn = await listener.accept();
        conn.setNoDelay(true);
        const request = new Uint8Array(4096);
        while (i < replies.length && await conn.read(request) !== null) {
          const bytes = encoder.encode(replies[i]!);
          if (i === 1) {
            for (let j = 0; j < bytes.length; j++) {
              await conn.write(bytes.subarray(j, j + 1));
              await new Promise((resolve) => setTimeout(resolve, 0));
            }
          } else await conn.write(bytes);
          if (i++ === 2) break;
        }
        conn.close();
      }
    })();
    const got: string[] = [];
    await postMany({
      url: `http://127.0.0.1:${listener.addr.port}`,
      path: "/",
      headers: {},
      body: "{}",
      total: replies.length,
      connections: 1,
      onResponse(status, body) {
        got.push(`${status} ${body.length > 20 ? body.length : body}`);
      },
    });
    await accept;
    listener.close();
    assert.deepEqual(got, [
      "202 one!",
      "202 two0123456789",
      `202 ${big.length}`,
      "201 last",
    ]);
  }
  // A malformed status line and a connection closed mid-response are clear errors.
  const bad = async (reply: string, message: RegExp) => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accept = (async () => {
      const conn = await listener.accept();
      await conn.read(new Uint8Array(4096));
      await conn.write(encoder.encode(reply));
      conn.close();
    })();
    await assert.rejects(
      postMany({
        url: `http://127.0.0.1:${listener.addr.port}`,
        path: "/",
        headers: {},
        body: "{}",
        total: 1,
        connections: 1,
        onResponse() {},
      }),
      message,
    );
    await accept;
    listener.close();
  };
  await bad("HTTP/1.1 20 OK\r\n\r\n", /malformed status line/);
  await bad(
    "HTTP/1.1 202 Accepted\r\nContent-Length: 10\r\n\r\n{}",
    /closed the connection mid-response/,
  );
  await server.shutdown();
  console.log(
    `OK: ${total} responses on ${peers.size} connections (${big} large, chunked every 11th, Connection: close every 13th)`,
  );
}

/** Waits until the service at `url` reports an empty backlog on `/healthz`; throws after `timeoutMs`. */
export async function drained(url: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const health = await (await fetch(`${url}/healthz`)).json();
    if (health.backlog === 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`The backlog did not drain in ${timeoutMs / 1000} s`);
}

if (import.meta.main) await selfCheck();
