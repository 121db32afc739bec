/**
 * The HTTP listener of `serve`: Deno's own HTTP server (hyper, the engine of `Deno.serve`) on each
 * connection, behind a thin accept loop of ours that `Deno.serve` has no options for:
 *
 * - a cap on open connections (`max_connections`): one more is answered `503` with `Retry-After` and
 *   closed at once, so a flood of idle sockets never reaches the file-descriptor limit;
 * - deadlines: a connection must complete its first request's headers within `header_timeout`, and an
 *   idle keep-alive connection its next request's within `idle_timeout`; silent clients and header
 *   drippers are closed when their deadline passes (one sweep timer for all connections: a timer per
 *   request would cost throughput);
 * - an error answer (4xx/5xx) to a request with a body closes the connection as soon as it is sent:
 *   hyper would otherwise read (drain) the rest of the body, endlessly for a client that keeps sending;
 * - accept errors: running out of file descriptors (or memory) backs off and accepts again; any other
 *   error means the listening socket is gone, and `finished` rejects (serve then exits non-zero so a
 *   supervisor restarts it, instead of staying alive with no listener).
 *
 * The per-connection server is `serveHttpOnConnection`, the function `node:http` and `Deno.serve` are
 * built on (Deno 2.9's internals: checked at start, with a clear error if a Deno upgrade removed it).
 * Measured with wrk on a trivial handler: keep-alive throughput is that of `Deno.serve` (see
 * bench/http_bench.ts and docs/security.md).
 *
 * @module
 */

import {
  canSetHeader,
  Connection,
  type Handler,
  serveOnConnection,
  transient,
} from "./_connection.ts";

/** Limits of {@link serveGuarded}. */
export interface ListenerOptions {
  hostname: string;
  port: number;
  /** Open connections at most; more are refused with 503. */
  maxConnections: number;
  /** Time from accepting a connection to its first request's complete headers. */
  headerTimeoutMs: number;
  /** Time an idle keep-alive connection may wait for its next request's complete headers. */
  idleTimeoutMs: number;
  /** Called once listening. */
  onListen?: (addr: Deno.NetAddr) => void;
  /** The answer when the handler throws. */
  onError?: (error: unknown) => Response | Promise<Response>;
  /** Events worth a log line: `connections_refused`, `accept_failed` (rate-limited to one a second). */
  log?: (event: string, fields: Record<string, unknown>) => void;
  /** Tests: a listener to serve instead of opening `hostname:port`. */
  listener?: Deno.Listener<Deno.TcpConn, Deno.NetAddr>;
}

/** Counters of a {@link GuardedServer}. */
export interface ListenerStats {
  /** Connections open now. */
  open: number;
  /** Connections refused at the cap. */
  refused: number;
  /** Connections closed at a header or idle deadline. */
  timedOut: number;
  /** Connections closed after an error answer, with their body unread. */
  closedUnread: number;
}

/** A running listener. */
export interface GuardedServer {
  addr: Deno.NetAddr;
  /** Resolves after {@link shutdown}; rejects with the error if the listening socket died. */
  finished: Promise<void>;
  /** Stops accepting, lets requests in flight finish, closes idle connections. */
  shutdown(): Promise<void>;
  stats(): ListenerStats;
}

const REFUSAL = new TextEncoder().encode(
  "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\n" +
    "Retry-After: 1\r\nConnection: close\r\nContent-Length: 62\r\n\r\n" +
    '{"error":"Too many open connections (max_connections): retry"}',
);

/** How long a stopping listener lets its connections finish their requests before closing them. */
const SHUTDOWN_GRACE_MS = 5_000;

/** How long a connection closed after an error answer stays open for the client to read it. */
const LINGER_MS = 500;

/** Serves `handler` on `hostname:port` with the limits of {@link ListenerOptions}. */
export function serveGuarded(
  options: ListenerOptions,
  handler: Handler,
): GuardedServer {
  const serve = serveOnConnection();
  const listener = options.listener ??
    Deno.listen({ hostname: options.hostname, port: options.port });
  const { maxConnections, headerTimeoutMs, idleTimeoutMs } = options;
  const onError = options.onError ??
    ((err: unknown) => {
      console.error(err);
      return new Response("Internal error", { status: 500 });
    });
  const log = options.log ?? (() => {});
  const conns = new Set<Connection>();
  const stats: ListenerStats = {
    open: 0,
    refused: 0,
    timedOut: 0,
    closedUnread: 0,
  };
  let stopping = false;
  let lastLog = 0;
  const logRarely = (event: string, fields: Record<string, unknown>) => {
    const now = Date.now();
    if (now - lastLog < 1_000) return;
    lastLog = now;
    log(event, fields);
  };

  // One sweep for every deadline; it runs only while connections are open.
  let sweeper: ReturnType<typeof setInterval> | undefined;
  const sweepMs = Math.max(
    50,
    Math.min(1_000, Math.min(headerTimeoutMs, idleTimeoutMs) / 4),
  );
  const sweep = () => {
    const now = Date.now();
    for (const conn of conns) {
      if (conn.busy === 0 && now >= conn.deadline) {
        stats.timedOut++;
        conn.kill();
      }
    }
    if (conns.size === 0) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  };

  const refuse = (tcp: Deno.TcpConn) => {
    stats.refused++;
    logRarely("connections_refused", {
      open: stats.open,
      max_connections: maxConnections,
      refused: stats.refused,
    });
    tcp.write(REFUSAL).catch(() => {}).finally(() => {
      try {
        tcp.close();
      } catch {
        // closed by the client
      }
    });
  };

  const accept = (tcp: Deno.TcpConn) => {
    if (stats.open >= maxConnections) return refuse(tcp);
    stats.open++;
    // deno-lint-ignore prefer-const
    let conn: Connection;
    const idle = () => {
      conn.busy--;
      conn.deadline = Date.now() + idleTimeoutMs;
    };
    const guarded = async (
      request: Request,
      info: Deno.ServeHandlerInfo<Deno.NetAddr>,
    ) => {
      // Busy until the answer is delivered (a slow reader of a long page is not idle).
      conn.busy++;
      info.completed.then(idle, idle);
      let response = await handler(request, info);
      if (response.status >= 400 && request.body !== null) {
        // An error answer to a request with a body: hyper would read (drain) the rest of the body to its
        // end, for ever if the client keeps sending. Say Connection: close, and once the answer is
        // delivered give the client LINGER_MS to read it (closing with unread data sends a reset, which
        // can destroy the answer on its way), then close.
        stats.closedUnread++;
        if (!canSetHeader(response)) {
          response = new Response(response.body, response);
        }
        response.headers.set("Connection", "close");
        const close = () => setTimeout(() => conn.kill(), LINGER_MS);
        info.completed.then(close, close);
      }
      return response;
    };
    conn = new Connection(
      tcp,
      serve,
      guarded as Handler,
      onError,
      Date.now() + headerTimeoutMs,
    );
    conns.add(conn);
    sweeper ??= setInterval(sweep, sweepMs);
    conn.finished.then(() => {
      stats.open--;
      conns.delete(conn);
    });
  };

  const addr = listener.addr;
  const loop = (async () => {
    options.onListen?.(addr);
    for (;;) {
      let tcp: Deno.TcpConn;
      try {
        tcp = await listener.accept();
      } catch (err) {
        if (stopping) return;
        if (transient(err)) {
          logRarely("accept_failed", {
            error: String((err as Error)?.message ?? err),
            open: stats.open,
            hint:
              "lower max_connections or raise the file descriptor limit (LimitNOFILE)",
          });
          await new Promise((resolve) => setTimeout(resolve, 50));
          continue;
        }
        throw new Error(
          `The listener on ${addr.hostname}:${addr.port} died: ${
            String((err as Error)?.message ?? err)
          }`,
        );
      }
      accept(tcp);
    }
  })();
  // Stopped or died: close the listener, let every connection answer the requests it is serving and
  // close (idle ones at once), and settle once they all have.
  const finished = loop.finally(async () => {
    stopping = true;
    try {
      listener.close();
    } catch {
      // already closed
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all([...conns].map((conn) => conn.shutdown())),
      new Promise((
        resolve,
      ) => (timer = setTimeout(resolve, SHUTDOWN_GRACE_MS))),
    ]);
    clearTimeout(timer);
    for (const conn of conns) conn.kill(); // still sending a body nobody reads
    clearInterval(sweeper);
    sweeper = undefined;
  });

  return {
    addr,
    finished,
    async shutdown() {
      if (!stopping) {
        stopping = true;
        try {
          listener.close();
        } catch {
          // already closed
        }
      }
      await finished.catch(() => {});
    },
    stats: () => ({ ...stats }),
  };
}
