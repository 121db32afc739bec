/**
 * Misbehaving TCP clients for the listener tests: a connection that stays silent, one that drips its
 * request headers a byte at a time, one that keeps pouring a body after the answer; each tells how (and
 * whether, within a bound) the server ended it. Loopback only.
 *
 * @example
 * ```ts
 * const conn = await openTcp(server.url);
 * const end = await serverEnds(conn, 10_000); // "closed" once the server hangs up, "open" at the bound
 * ```
 *
 * @module
 */

/** A TCP connection to the host and port of `url`. */
export function openTcp(url: string): Promise<Deno.TcpConn> {
  const { hostname, port } = new URL(url);
  return Deno.connect({ hostname, port: Number(port) });
}

/** What a client saw of the server: the bytes it answered, and whether it hung up within the bound. */
export interface ServerEnd {
  /** "closed": EOF or reset by the server; "open": still open at the bound (then closed by us). */
  end: "closed" | "open";
  /** Everything the server sent, as latin1 text (the status line is at its start). */
  received: string;
}

/** Reads until the server closes `conn` (or `timeoutMs` passes, then closes it); never throws. */
export async function serverEnds(
  conn: Deno.Conn,
  timeoutMs: number,
): Promise<ServerEnd> {
  const decoder = new TextDecoder("latin1");
  let received = "";
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn.close();
    } catch {
      // closed already
    }
  }, timeoutMs);
  const buffer = new Uint8Array(16 * 1024);
  try {
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      received += decoder.decode(buffer.subarray(0, n));
    }
  } catch {
    // reset by the server, or closed by the timer
  } finally {
    clearTimeout(timer);
  }
  if (!timedOut) {
    try {
      conn.close();
    } catch {
      // closed already
    }
  }
  return { end: timedOut ? "open" : "closed", received };
}

/** A writer running in the background until the connection fails or `stop()`. */
export interface Writer {
  /** Bytes written so far. */
  sent(): number;
  stop(): void;
  /** Settles when writing ended (the server closed, or stopped). */
  done: Promise<void>;
}

/** Writes `head`, then `chunk` again and again (every `intervalMs`, or as fast as the socket takes it). */
export function pour(
  conn: Deno.Conn,
  head: string,
  chunk: string,
  intervalMs = 0,
): Writer {
  const encoder = new TextEncoder();
  const bytes = encoder.encode(chunk);
  let sent = 0;
  let stopped = false;
  const done = (async () => {
    try {
      await writeAll(conn, encoder.encode(head));
      while (!stopped) {
        await writeAll(conn, bytes);
        sent += bytes.byteLength;
        if (intervalMs > 0) {
          await new Promise((resolve) => setTimeout(resolve, intervalMs));
        }
      }
    } catch {
      // the server closed the connection: what the test waits for
    }
  })();
  return {
    sent: () => sent,
    stop: () => (stopped = true),
    done,
  };
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.byteLength) {
    offset += await conn.write(bytes.subarray(offset));
  }
}
