/**
 * One connection of the guarded listener (`http_listener.ts`): Deno's per-connection HTTP server on it,
 * its deadline, and the two ways to close it (kill at once, shut down after the requests in flight);
 * also which accept errors are transient.
 *
 * @module
 */
export type Handler = (
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Response | Promise<Response>;

export type ServeOnConnection = (
  conn: Deno.Conn,
  signal: AbortSignal,
  handler: Handler,
  onError: (error: unknown) => Response | Promise<Response>,
  onListen: (scheme: string) => void,
) => { finished: Promise<void> };

/** Deno's per-connection HTTP server, or a clear error naming the Deno version this needs. */
export function serveOnConnection(): ServeOnConnection {
  const internals = (Deno as unknown as Record<symbol, unknown>)[
    (Deno as unknown as { internal: symbol }).internal
  ] as { serveHttpOnConnection?: ServeOnConnection } | undefined;
  const serve = internals?.serveHttpOnConnection;
  if (typeof serve !== "function") {
    throw new Error(
      `This Deno (${Deno.version.deno}) has no per-connection HTTP server (serveHttpOnConnection): run serve with Deno 2.9`,
    );
  }
  return serve;
}

// Accept errors that say "not now", not "the socket is gone": EMFILE, ENFILE, ENOBUFS, ENOMEM,
// ECONNABORTED, EPROTO, EPERM (a firewall), and a connection reset before it was accepted.
const TRANSIENT = /\(os error (24|23|105|12|103|71|1)\)/;

export function transient(err: unknown): boolean {
  if (
    err instanceof Deno.errors.ConnectionAborted ||
    err instanceof Deno.errors.ConnectionReset
  ) return true;
  return TRANSIENT.test(String((err as Error)?.message ?? err));
}

/** Whether `response`'s headers can be changed (those of a fetched Response cannot). */
export function canSetHeader(response: Response): boolean {
  try {
    response.headers.set("Connection", "close");
    return true;
  } catch {
    return false;
  }
}

/** Swallows the BadResource an abort listener of Deno's server throws for a connection closed meanwhile. */
function swallowBadResource(event: ErrorEvent): void {
  if (event.error instanceof Deno.errors.BadResource) event.preventDefault();
}

/** One accepted connection and its deadline. */
export class Connection {
  readonly #abort = new AbortController();
  #server: { finished: Promise<void>; shutdown(): Promise<void> } | undefined;
  /** Requests whose answer is not delivered yet. */
  busy = 0;
  /** When the connection is closed if it is idle then (ms since the epoch). */
  deadline: number;
  closed = false;
  /** Settles when the connection is closed. */
  finished: Promise<void>;

  constructor(
    tcp: Deno.TcpConn,
    serve: ServeOnConnection,
    handler: Handler,
    onError: (error: unknown) => Response | Promise<Response>,
    deadline: number,
  ) {
    this.deadline = deadline;
    const server = serve(
      tcp,
      this.#abort.signal,
      handler,
      onError,
      () => {},
    ) as {
      finished: Promise<void>;
      shutdown(): Promise<void>;
    };
    this.#server = server;
    this.finished = server.finished.catch(() => {}).finally(() => {
      this.closed = true;
    });
  }

  /** Closes at once, a request in progress or not (its answer is lost). */
  kill(): void {
    if (this.closed) return;
    this.closed = true;
    globalThis.addEventListener("error", swallowBadResource);
    try {
      this.#abort.abort();
    } finally {
      globalThis.removeEventListener("error", swallowBadResource);
    }
  }

  /** Closes once the requests in progress are answered (an idle connection at once). */
  shutdown(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return this.#server!.shutdown().catch(() => {});
  }
}
