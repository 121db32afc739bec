/**
 * One HTTP thread of `serve` (a Deno Worker, `global.http_threads`; started by `http_threads.ts`): the
 * guarded listener on `listen` with SO_REUSEPORT (the kernel spreads connections over the threads),
 * and per request:
 *
 * - `POST /ingest/<detector>` that passes every check a thread can make alone (token, detector,
 *   media type, Idempotency-Key, body, signature, JSON, `split`): its rows go to the main thread,
 *   which rate-limits, holds backlog slots, commits them with the group commit and answers (202 only
 *   after the fsync, as ever);
 * - a body the thread cannot read (413, 408, 400, 415 for its coding) is answered here, and counted
 *   by the main thread;
 * - anything else, including an ingest request that fails a check, goes to the main thread whole
 *   (method, URL, headers, the body read so far) and is answered by the same handler as without
 *   threads: the same 401 with its log line and failure budget, the same 400 naming the line.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { HTTPException } from "hono/http-exception";
import {
  type GuardedServer,
  serveGuarded,
} from "../core/service/http_listener.ts";
import { AuthError, IngestAuth } from "../core/auth/auth.ts";
import { bodyKind, parseAlerts, readBody } from "./http/body.ts";
import { securityHeaders } from "./http/security_headers.ts";
import {
  alertRows,
  IDEMPOTENCY_KEY,
  type RowDetector,
} from "./_ingest_rows.ts";
import type { FrontRequest } from "./ingest.ts";
import type { NewAlert } from "../core/store/store.ts";
import { stringifyJson } from "../core/json.ts";

/** What a thread needs of the config: ingest authentication and limits, and each detector's rows. */
export interface ThreadConfig {
  tokens: readonly string[];
  hmacSecret?: string | undefined;
  maxBodyBytes: number;
  maxJsonDepth: number;
  detectors: Record<string, { split?: string; id_field?: string }>;
}

/** Messages from the main thread (they come in arrays, a batch per turn of its event loop). */
export type ToThread =
  | {
    t: "start";
    hostname: string;
    port: number;
    maxConnections: number;
    headerTimeoutMs: number;
    idleTimeoutMs: number;
    config: ThreadConfig;
  }
  | { t: "detectors"; detectors: ThreadConfig["detectors"] }
  | { t: "reply"; id: number; reply: Reply }
  | { t: "shutdown" };

/** An answer, as the main thread sends it. */
export interface Reply {
  status: number;
  headers: [string, string][];
  body: string | ArrayBuffer | null;
}

/** A request passed to the main thread whole. */
export interface Forwarded {
  method: string;
  url: string;
  headers: [string, string][];
  body: Uint8Array | null;
  remote: { hostname: string; port: number };
}

/** A row as it crosses to the main thread: the alert as its JSON text (a string copies cheaply). */
export type WireRow = Omit<NewAlert, "alert" | "alert_json"> & {
  alert_json: string;
};

/** A {@link FrontRequest} as it crosses to the main thread. */
export type WireFront = Omit<FrontRequest, "rows"> & { rows: WireRow[] };

/** Messages to the main thread (sent in arrays, a batch per turn of the event loop). */
export type FromThread =
  | { t: "listening"; hostname: string; port: number }
  | { t: "listen_failed"; error: string }
  | { t: "died"; error: string }
  | { t: "closed" }
  | { t: "log"; event: string; fields: Record<string, unknown> }
  | { t: "answered"; status: number }
  | { t: "ingest"; id: number; front: WireFront }
  | { t: "request"; id: number; request: Forwarded };

const INGEST_TARGET = /^\/ingest\/([A-Za-z0-9_.-]+)(?:\?.*)?$/;
const SECURITY = Object.entries(securityHeaders());
/** Bytes of a body passed on whole at most (a route's own limit is smaller; one byte more says "over"). */
const FORWARD_MIN_BYTES = 1024 * 1024;

let config: ThreadConfig;
let auth: IngestAuth;
let server: GuardedServer | undefined;
const waiting = new Map<number, (reply: Reply) => void>();
let nextId = 0;

// Messages go out in batches, one postMessage per turn of the event loop: each message wakes the other
// thread, and under load one wake-up then carries many requests.
let outbox: FromThread[] = [];
let outboxTransfer: Transferable[] = [];

function post(message: FromThread, transfer: Transferable[] = []): void {
  outbox.push(message);
  for (const t of transfer) outboxTransfer.push(t);
  if (outbox.length === 1) setImmediate(flush);
}

function flush(): void {
  const messages = outbox;
  const transfer = outboxTransfer;
  outbox = [];
  outboxTransfer = [];
  self.postMessage(messages, transfer);
}

function call(
  message:
    | { t: "ingest"; front: WireFront }
    | { t: "request"; request: Forwarded },
  transfer: Transferable[] = [],
): Promise<Reply> {
  const id = ++nextId;
  const { promise, resolve } = Promise.withResolvers<Reply>();
  waiting.set(id, resolve);
  post({ ...message, id } as FromThread, transfer);
  return promise;
}

function toResponse(reply: Reply): Response {
  return new Response(reply.body, {
    status: reply.status,
    headers: reply.headers,
  });
}

/** Reads a body to pass on as it came (no decoding), at most `cap + 1` bytes, within `timeoutMs`. */
async function readRaw(
  request: Request,
  cap: number,
  timeoutMs: number,
): Promise<Uint8Array | "timeout"> {
  const reader = request.body!.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    reader.cancel().catch(() => {});
  }, timeoutMs);
  try {
    while (total <= cap) {
      const { done, value } = await reader.read();
      if (expired) return "timeout";
      if (done) break;
      chunks.push(value);
      total += value.byteLength;
    }
  } catch {
    if (expired) return "timeout";
    // the connection broke off: what arrived is passed on; the handler finds it short
  } finally {
    clearTimeout(timer);
  }
  if (total > cap) reader.cancel().catch(() => {});
  const out = new Uint8Array(Math.min(total, cap + 1));
  let offset = 0;
  for (const chunk of chunks) {
    const part = chunk.subarray(0, out.length - offset);
    out.set(part, offset);
    offset += part.byteLength;
    if (offset === out.length) break;
  }
  return out;
}

/** Passes `request` to the main thread; `read`: its body as the thread read (and decoded) it. */
async function forward(
  request: Request,
  remote: Deno.NetAddr,
  read?: Uint8Array,
): Promise<Response> {
  let headers = [...request.headers];
  let body: Uint8Array | null = read ?? null;
  if (read !== undefined) {
    // Already decoded: the main thread reads it as it is.
    headers = headers.filter(([k]) =>
      k !== "content-encoding" && k !== "content-length" &&
      k !== "transfer-encoding"
    );
  } else if (request.body !== null) {
    const cap = Math.max(FORWARD_MIN_BYTES, 2 * config.maxBodyBytes);
    const declared = Number(request.headers.get("content-length") ?? NaN);
    if (!(declared > cap)) {
      const raw = await readRaw(request, cap, 30_000);
      if (raw === "timeout") {
        post({ t: "answered", status: 408 });
        return secured(
          Response.json({ error: "Request body not received within 30 s" }, {
            status: 408,
          }),
        );
      }
      body = raw;
      headers = headers.filter(([k]) =>
        k !== "content-length" && k !== "transfer-encoding"
      );
    }
    // Declared over the cap: passed on without its body, the handler refuses it by its Content-Length.
  }
  const transfer = body ? [body.buffer as ArrayBuffer] : [];
  return toResponse(
    await call({
      t: "request",
      request: {
        method: request.method,
        url: request.url,
        headers,
        body,
        remote: { hostname: remote.hostname, port: remote.port },
      },
    }, transfer),
  );
}

function secured(response: Response): Response {
  for (const [k, v] of SECURITY) response.headers.set(k, v);
  return response;
}

/** The thread's ingest: every check it can make alone, else the request goes to the main thread. */
async function ingest(
  request: Request,
  name: string,
  remote: Deno.NetAddr,
): Promise<Response> {
  const headers = request.headers;
  let token: number;
  try {
    token = auth.bearer(headers.get("authorization"));
  } catch (err) {
    if (err instanceof AuthError) return forward(request, remote);
    throw err;
  }
  const settings = Object.hasOwn(config.detectors, name)
    ? config.detectors[name]
    : undefined;
  const key = headers.get("idempotency-key");
  let kind;
  try {
    kind = bodyKind(headers.get("content-type"));
  } catch {
    return forward(request, remote);
  }
  if (!settings || (key !== null && !IDEMPOTENCY_KEY.test(key))) {
    return forward(request, remote);
  }
  let bytes: Uint8Array;
  try {
    bytes = await readBody(request, { maxBytes: config.maxBodyBytes });
  } catch (err) {
    if (!(err instanceof HTTPException)) throw err;
    post({ t: "answered", status: err.status });
    return secured(err.getResponse());
  }
  let front: WireFront;
  try {
    const signed = auth.verifySignature(
      {
        timestamp: headers.get("x-blitz-timestamp"),
        signature: headers.get("x-blitz-signature"),
      },
      bytes,
      Date.now(),
    );
    const parsed = parseAlerts(bytes, {
      kind,
      maxDepth: config.maxJsonDepth,
    });
    const detector: RowDetector = { config: settings } as RowDetector;
    const { rows, missingId } = alertRows(parsed, {
      detector,
      name,
      key,
      receivedAt: new Date().toISOString(),
    });
    front = {
      name,
      token,
      signed,
      key,
      missingId,
      rows: rows.map((row) => ({
        id: row.id,
        detector: row.detector,
        alert_json: stringifyJson(row.alert),
        ...(row.received_at !== undefined
          ? { received_at: row.received_at }
          : {}),
        ...(row.idempotency_key !== undefined
          ? { idempotency_key: row.idempotency_key }
          : {}),
      })),
    };
  } catch (err) {
    if (err instanceof AuthError || err instanceof HTTPException) {
      return forward(request, remote, bytes);
    }
    throw err;
  }
  return toResponse(await call({ t: "ingest", front }));
}

function handler(
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
): Promise<Response> {
  if (request.method === "POST") {
    const url = request.url;
    const start = url.indexOf("/", url.indexOf("//") + 2);
    const match = INGEST_TARGET.exec(url.slice(start));
    if (match) return ingest(request, match[1]!, info.remoteAddr);
  }
  return forward(request, info.remoteAddr);
}

function start(message: Extract<ToThread, { t: "start" }>): void {
  config = message.config;
  auth = IngestAuth.create({
    tokens: config.tokens,
    hmacSecret: config.hmacSecret,
  });
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({
      hostname: message.hostname,
      port: message.port,
      reusePort: true,
    });
  } catch (err) {
    post({ t: "listen_failed", error: String((err as Error)?.message ?? err) });
    return;
  }
  server = serveGuarded({
    hostname: message.hostname,
    port: message.port,
    listener,
    maxConnections: message.maxConnections,
    headerTimeoutMs: message.headerTimeoutMs,
    idleTimeoutMs: message.idleTimeoutMs,
    log: (event, fields) => post({ t: "log", event, fields }),
    onError: (err) => {
      post({
        t: "log",
        event: "http_error",
        fields: { error: String((err as Error)?.message ?? err) },
      });
      return secured(
        Response.json({ error: "Internal error" }, { status: 500 }),
      );
    },
  }, handler);
  server.finished.then(
    () => post({ t: "closed" }),
    (err) => post({ t: "died", error: String((err as Error)?.message ?? err) }),
  );
  post({
    t: "listening",
    hostname: server.addr.hostname,
    port: server.addr.port,
  });
}

self.onmessage = (event: MessageEvent<ToThread[]>) => {
  for (const message of event.data) receive(message);
};

function receive(message: ToThread): void {
  switch (message.t) {
    case "reply": {
      const resolve = waiting.get(message.id);
      waiting.delete(message.id);
      resolve?.(message.reply);
      break;
    }
    case "start":
      start(message);
      break;
    case "detectors":
      config = { ...config, detectors: message.detectors };
      break;
    case "shutdown":
      if (server) void server.shutdown();
      else post({ t: "closed" });
      break;
  }
}
