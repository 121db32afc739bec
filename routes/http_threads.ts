/**
 * `serve` with HTTP threads (`global.http_threads` > 0): Deno Workers (`_http_thread.ts`) each run the
 * guarded listener on `listen` with SO_REUSEPORT and do the per-request HTTP work (the connection,
 * headers, body, token check, JSON parse, the rows); the main thread keeps everything with state:
 * the rate limits, the backlog, the group commit and its fsync (a 202 still follows it), the logs and
 * metrics, and every request other than a clean ingest, which a thread passes on whole to the same
 * handler `serve` runs without threads. On Linux the kernel spreads new connections over the threads'
 * sockets.
 *
 * Limits: each thread's listener gets `max_connections / threads` (rounded up) and the deadlines as
 * configured; a thread whose listening socket dies fails `finished` (serve exits 1, as without
 * threads). Shutdown closes every thread's listener and lets the requests in flight finish.
 *
 * @module
 */
import type {
  GuardedServer,
  ListenerOptions,
} from "../core/service/http_listener.ts";
import type { Answer, FrontRequest } from "./ingest.ts";
import type { NewAlert } from "../core/store/store.ts";
import { parseJson } from "../core/json.ts";
import type {
  Forwarded,
  FromThread,
  Reply,
  ThreadConfig,
  ToThread,
  WireFront,
  WireRow,
} from "./_http_thread.ts";
import type { LoadedDetector } from "../core/config/config.ts";

export type { ThreadConfig } from "./_http_thread.ts";

/**
 * A row as a thread sends it: the alert as its JSON text, which the store writes as it is; the object
 * is parsed only if something asks for it (an Idempotency-Key compared with a stored alert).
 */
class ThreadRow implements NewAlert {
  id: string;
  detector: string;
  alert_json: string;
  received_at?: string;
  idempotency_key?: string;
  #alert: Record<string, unknown> | undefined;

  constructor(row: WireRow) {
    this.id = row.id;
    this.detector = row.detector;
    this.alert_json = row.alert_json;
    if (row.received_at !== undefined) this.received_at = row.received_at;
    if (row.idempotency_key !== undefined) {
      this.idempotency_key = row.idempotency_key;
    }
  }

  get alert(): Record<string, unknown> {
    return this.#alert ??= parseJson(this.alert_json) as Record<
      string,
      unknown
    >;
  }
}

/** Options of {@link serveThreads}: the listener's, and the threads. */
export interface ThreadOptions
  extends Omit<ListenerOptions, "listener" | "onListen" | "onError"> {
  threads: number;
  config: ThreadConfig;
  /** An answer a thread gave itself (a body it could not read), for the metrics. */
  answered?: (status: number) => void;
}

/** A running threaded listener; `detectors` hands a reloaded config's detectors to the threads. */
export interface ThreadedServer extends GuardedServer {
  detectors(detectors: ReadonlyMap<string, LoadedDetector>): void;
}

/** What the threads need of detectors (the rows they build). */
export function threadDetectors(
  detectors: ReadonlyMap<string, LoadedDetector>,
): ThreadConfig["detectors"] {
  const out: ThreadConfig["detectors"] = {};
  for (const [name, detector] of detectors) {
    const { split, id_field } = detector.config;
    out[name] = {
      ...(split !== undefined ? { split } : {}),
      ...(id_field !== undefined ? { id_field } : {}),
    };
  }
  return out;
}

/** Starts the threads; resolves once all listen, rejects (threads stopped) when one cannot. */
export async function serveThreads(
  options: ThreadOptions,
  handlers: {
    handler: (
      request: Request,
      info: Deno.ServeHandlerInfo<Deno.NetAddr>,
    ) => Response | Promise<Response>;
    commit: (front: FrontRequest) => Promise<Answer>;
  },
): Promise<ThreadedServer> {
  const log = options.log ?? (() => {});
  const workers: Worker[] = [];
  const closed: Promise<void>[] = [];
  const died = Promise.withResolvers<never>();
  died.promise.catch(() => {});
  let stopping = false;

  // Messages to a thread go out in batches, one postMessage per turn of the event loop (see the thread).
  const outboxes = new Map<
    Worker,
    { messages: ToThread[]; transfer: Transferable[] }
  >();
  const send = (
    worker: Worker,
    message: ToThread,
    transfer: Transferable[] = [],
  ) => {
    let box = outboxes.get(worker);
    if (!box) {
      outboxes.set(worker, box = { messages: [], transfer: [] });
      setImmediate(() => {
        outboxes.delete(worker);
        worker.postMessage(box!.messages, box!.transfer);
      });
    }
    box.messages.push(message);
    for (const t of transfer) box.transfer.push(t);
  };
  const reply = async (worker: Worker, id: number, response: Response) => {
    const body = response.body === null ? null : await response.arrayBuffer();
    const message: ToThread = {
      t: "reply",
      id,
      reply: { status: response.status, headers: [...response.headers], body },
    };
    send(worker, message, body ? [body] : []);
  };
  const failed = (): Reply => ({
    status: 500,
    headers: [["content-type", "application/json; charset=utf-8"]],
    body: '{"error":"Internal error"}',
  });
  const answerIngest = async (worker: Worker, id: number, front: WireFront) => {
    let reply: Reply;
    try {
      reply = await handlers.commit({
        ...front,
        rows: front.rows.map((row) => new ThreadRow(row)),
      });
    } catch {
      reply = failed();
    }
    send(worker, { t: "reply", id, reply });
  };
  const answerRequest = async (
    worker: Worker,
    id: number,
    request: Forwarded,
  ) => {
    try {
      const body = request.method === "GET" || request.method === "HEAD"
        ? null
        : request.body as Uint8Array<ArrayBuffer> | null;
      const response = await handlers.handler(
        new Request(request.url, {
          method: request.method,
          headers: request.headers,
          body,
        }),
        {
          remoteAddr: { transport: "tcp", ...request.remote },
          completed: Promise.resolve(),
        },
      );
      await reply(worker, id, response);
    } catch (err) {
      log("http_error", {
        method: request.method,
        path: new URL(request.url).pathname.replace(
          /^\/actions\/[^/]+/,
          "/actions/[token]",
        ),
        error: String((err as Error)?.message ?? err),
      });
      send(worker, { t: "reply", id, reply: failed() });
    }
  };

  const spawn = (port: number): Promise<Deno.NetAddr> => {
    const worker = new Worker(
      new URL("./_http_thread.ts", import.meta.url).href,
      { type: "module", name: `http-${workers.length + 1}` },
    );
    workers.push(worker);
    const listening = Promise.withResolvers<Deno.NetAddr>();
    const close = Promise.withResolvers<void>();
    closed.push(close.promise);
    worker.onmessage = (event: MessageEvent<FromThread[]>) => {
      for (const message of event.data) receive(message);
    };
    const receive = (message: FromThread) => {
      switch (message.t) {
        case "ingest":
          void answerIngest(worker, message.id, message.front);
          break;
        case "request":
          void answerRequest(worker, message.id, message.request);
          break;
        case "answered":
          options.answered?.(message.status);
          break;
        case "log":
          log(message.event, message.fields);
          break;
        case "listening":
          listening.resolve({
            transport: "tcp",
            hostname: message.hostname,
            port: message.port,
          });
          break;
        case "listen_failed":
          listening.reject(new Error(message.error));
          close.resolve();
          break;
        case "died":
          close.resolve();
          if (!stopping) died.reject(new Error(message.error));
          break;
        case "closed":
          close.resolve();
          break;
      }
    };
    worker.onerror = (event) => {
      event.preventDefault();
      const error = `An HTTP thread failed: ${event.message}`;
      listening.reject(new Error(error));
      close.resolve();
      if (!stopping) died.reject(new Error(error));
    };
    const start: ToThread = {
      t: "start",
      hostname: options.hostname,
      port,
      maxConnections: Math.ceil(options.maxConnections / options.threads),
      headerTimeoutMs: options.headerTimeoutMs,
      idleTimeoutMs: options.idleTimeoutMs,
      config: options.config,
    };
    send(worker, start);
    return listening.promise;
  };

  let addr: Deno.NetAddr;
  try {
    // The first thread picks the port (`listen: …:0`), the others join it.
    addr = await spawn(options.port);
    await Promise.all(
      Array.from({ length: options.threads - 1 }, () => spawn(addr.port)),
    );
  } catch (err) {
    for (const worker of workers) worker.terminate();
    throw err;
  }

  const done = Promise.withResolvers<void>();
  const finished = Promise.race([died.promise, done.promise]).finally(
    async () => {
      stopping = true;
      for (const worker of workers) {
        send(worker, { t: "shutdown" });
      }
      await Promise.all(closed);
      for (const worker of workers) worker.terminate();
    },
  );
  finished.catch(() => {});

  return {
    addr,
    finished,
    async shutdown() {
      stopping = true;
      done.resolve();
      await finished.catch(() => {});
    },
    stats: () => ({ open: 0, refused: 0, timedOut: 0, closedUnread: 0 }),
    detectors(detectors) {
      const message: ToThread = {
        t: "detectors",
        detectors: threadDetectors(detectors),
      };
      for (const worker of workers) send(worker, message);
    },
  };
}
