/**
 * Request bodies for ingest: the media type (JSON or NDJSON), the bytes read with a real limit counted
 * while streaming (chunked bodies included; the body is never buffered past the limit), and the alerts
 * parsed from them. Problems become `HTTPException`s whose response is `{"error": "..."}`.
 *
 * @module
 */
import { parseJson, partsParser } from "../../core/json.ts";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { InputError } from "../../core/errors.ts";
import { checkAlert } from "../../core/pipeline/pipeline.ts";

/** An HTTPException whose response is JSON `{"error": message}` with the given status and headers. */
export function jsonError(
  status: ContentfulStatusCode,
  message: string,
  headers: Record<string, string> = {},
): HTTPException {
  const res = new Response(JSON.stringify({ error: message }), {
    status,
    headers: { "Content-Type": "application/json; charset=utf-8", ...headers },
  });
  return new HTTPException(status, { res, message });
}

/** The body formats ingest accepts. */
export type BodyKind = "json" | "ndjson";

const MEDIA_TYPES: Record<string, BodyKind> = {
  "application/json": "json",
  "application/x-ndjson": "ndjson",
  "application/ndjson": "ndjson",
  "application/jsonl": "ndjson",
  "application/x-jsonlines": "ndjson",
};

/** The body kind for a `Content-Type` value; 415 for any other type or a charset other than UTF-8. */
export function bodyKind(contentType: string | null | undefined): BodyKind {
  const [type = "", ...params] = (contentType ?? "").split(";");
  const kind = MEDIA_TYPES[type.trim().toLowerCase()];
  const accepted =
    'use "application/json" (one object or an array) or "application/x-ndjson" (one object per line)';
  if (!kind) {
    const given = type.trim() === ""
      ? "no Content-Type"
      : `Content-Type "${type.trim().slice(0, 100)}"`;
    throw jsonError(415, `Unsupported media type: ${given}; ${accepted}`);
  }
  for (const param of params) {
    const [name = "", value = ""] = param.split("=", 2).map((s) =>
      s.trim().toLowerCase()
    );
    if (name === "charset" && !["utf-8", "utf8", '"utf-8"'].includes(value)) {
      throw jsonError(
        415,
        `Unsupported charset "${value.slice(0, 40)}": send UTF-8`,
      );
    }
  }
  return kind;
}

// Body deadlines: one sweep timer for all bodies being read (a timer per request costs a third of the
// ingest throughput); a read past its deadline is ended by its `cancel` (a reader is cancelled, which
// ends its pending read; a whole-body read is given up). When the last body is read the timer is only
// unref'd (so it keeps no process alive), and the first sweep that finds nothing to watch stops it:
// under load bodies come one after another, and starting a timer for each would cost a few percent of
// the throughput again.
interface Deadline {
  at: number;
  expired: boolean;
  cancel: () => void;
}
const reading = new Set<Deadline>();
let sweeper: ReturnType<typeof setInterval> | undefined;
let sweeperRef = false;

function watch(at: number, cancel: () => void): Deadline {
  const deadline = { at, expired: false, cancel };
  reading.add(deadline);
  if (sweeper === undefined) {
    sweeper = setInterval(sweep, 250);
    sweeperRef = true;
  } else if (!sweeperRef) {
    Deno.refTimer(sweeper);
    sweeperRef = true;
  }
  return deadline;
}

function unwatch(deadline: Deadline): void {
  reading.delete(deadline);
  if (reading.size === 0 && sweeper !== undefined && sweeperRef) {
    Deno.unrefTimer(sweeper);
    sweeperRef = false;
  }
}

function sweep(): void {
  if (reading.size === 0) {
    clearInterval(sweeper);
    sweeper = undefined;
    return;
  }
  const now = Date.now();
  for (const deadline of reading) {
    if (now < deadline.at) continue;
    deadline.expired = true;
    reading.delete(deadline);
    deadline.cancel();
  }
}

const DECODINGS: Record<string, CompressionFormat | null> = {
  "": null,
  identity: null,
  gzip: "gzip",
  "x-gzip": "gzip",
  deflate: "deflate",
};

/**
 * Reads a request body into memory, at most `maxBytes` (counted after any `Content-Encoding: gzip` or
 * `deflate` is undone): a larger `Content-Length` is refused before reading, and a body without one
 * (chunked) is counted chunk by chunk and cancelled as soon as it passes the limit. Throws 413 over the
 * limit, 415 for another content coding, 400 for a body that cannot be read or decompressed, 408 when
 * the body does not arrive within `timeoutMs`.
 */
export async function readBody(
  request: Request,
  options: {
    maxBytes: number;
    /** Time allowed for the whole body. @default 30000 */
    timeoutMs?: number;
  },
): Promise<Uint8Array> {
  const { maxBytes } = options;
  // Connection: close: the rest of the body is never read, so the connection cannot carry another request.
  const tooLarge = () =>
    jsonError(
      413,
      `Body is larger than max_body_bytes (${maxBytes} bytes): split the batch or raise max_body_bytes`,
      {
        Connection: "close",
      },
    );
  const coding = (request.headers.get("content-encoding") ?? "").trim()
    .toLowerCase();
  const format = DECODINGS[coding];
  if (format === undefined) {
    throw jsonError(
      415,
      `Unsupported Content-Encoding "${
        coding.slice(0, 40)
      }": send the body as is, or gzip it`,
    );
  }
  const declared = request.headers.get("content-length");
  const length = declared !== null && /^\d+$/.test(declared.trim())
    ? Number(declared)
    : undefined;
  if (length !== undefined && length > maxBytes) throw tooLarge();
  const timeoutMs = options.timeoutMs ?? 30_000;
  const timedOut = () =>
    jsonError(
      408,
      `Request body not received within ${Math.round(timeoutMs / 1000)} s`,
    );
  if (format === null && length !== undefined) {
    return await readWhole(request, {
      maxBytes,
      timeoutMs,
      tooLarge,
      timedOut,
    });
  }
  if (request.body === null) return new Uint8Array(0);
  const stream = format === null
    ? request.body
    : request.body.pipeThrough(new DecompressionStream(format));
  const reader = stream.getReader();
  const deadline = watch(
    Date.now() + timeoutMs,
    () => reader.cancel().catch(() => {}),
  );
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (deadline.expired) throw timedOut();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) throw tooLarge();
      chunks.push(value);
    }
  } catch (err) {
    reader.cancel().catch(() => {});
    if (err instanceof HTTPException) throw err;
    if (deadline.expired) throw timedOut();
    if (format !== null && err instanceof TypeError) {
      throw jsonError(
        400,
        `Cannot decompress the body: it is not valid ${format} (Content-Encoding: ${coding})`,
      );
    }
    throw broken();
  } finally {
    unwatch(deadline);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

function broken(): HTTPException {
  return jsonError(
    400,
    "Cannot read the request body: the connection broke off",
  );
}

/**
 * A body sent as is with its Content-Length (at most the limit), read whole with `request.bytes()`:
 * Deno's server hands over a body that has already arrived in one piece (an ingest request of a few
 * hundred bytes on a keep-alive connection nearly always has) without making a stream, which
 * `request.body` would (~5 µs of CPU per request). The server reads no more than the Content-Length;
 * a Request made in process may carry more, so the length is checked again. Past the deadline the read
 * is given up (408; the listener closes a connection answered ≥ 400 with its body unread).
 */
function readWhole(
  request: Request,
  options: {
    maxBytes: number;
    timeoutMs: number;
    tooLarge: () => HTTPException;
    timedOut: () => HTTPException;
  },
): Promise<Uint8Array> {
  // One promise settled by whichever comes first, the read or the deadline (a race of two cost more).
  return new Promise((resolve, reject) => {
    const deadline = watch(
      Date.now() + options.timeoutMs,
      () => reject(options.timedOut()), // the read left behind ends with the connection
    );
    request.bytes().then((bytes) => {
      unwatch(deadline);
      if (bytes.byteLength > options.maxBytes) reject(options.tooLarge());
      else resolve(bytes);
    }, () => {
      unwatch(deadline);
      reject(broken());
    });
  });
}

/** Alerts parsed from a body. */
export interface ParsedBody {
  alerts: Record<string, unknown>[];
  /** True for an array or NDJSON (ids are then keyed by index). */
  batch: boolean;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses a body: one JSON object, a JSON array of objects, or NDJSON (one object per line, blank lines
 * ignored). Any bad element fails the whole body with 400 naming it (array index from 0, line number
 * from 1); nesting deeper than `maxDepth` is a 400; more than `maxAlerts` alerts is a 413.
 */
export function parseAlerts(
  bytes: Uint8Array,
  options: {
    kind: BodyKind;
    maxDepth: number;
    /** Alerts per request at most. @default 10000 */
    maxAlerts?: number;
  },
): ParsedBody {
  const maxAlerts = options.maxAlerts ?? 10_000;
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw jsonError(400, "Body is not valid UTF-8");
  }
  const nothing = "; nothing was accepted";
  const empty = () =>
    jsonError(
      400,
      "Empty body: send one JSON object, a JSON array of objects, or NDJSON with one object per line",
    );
  const tooMany = (n: number) =>
    jsonError(
      413,
      `Batch of ${n} alerts is over the limit of ${maxAlerts} per request: split it${nothing}`,
    );
  const check = (value: unknown, where: string) => {
    try {
      return checkAlert(value, options.maxDepth, where);
    } catch (err) {
      if (err instanceof InputError) {
        throw jsonError(400, `${err.message}${nothing}`);
      }
      throw err;
    }
  };
  if (options.kind === "ndjson") {
    const alerts: Record<string, unknown>[] = [];
    const parse = partsParser(text);
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line === "") continue;
      if (alerts.length >= maxAlerts) {
        throw tooMany(lines.filter((l) => l.trim() !== "").length);
      }
      let value: unknown;
      try {
        value = parse(line);
      } catch (err) {
        throw jsonError(
          400,
          `Line ${i + 1}: invalid JSON: ${(err as Error).message}${nothing}`,
        );
      }
      alerts.push(check(value, `Line ${i + 1}`));
    }
    if (alerts.length === 0) throw empty();
    return { alerts, batch: true };
  }
  if (text.trim() === "") throw empty();
  let value: unknown;
  try {
    value = parseJson(text); // big integers kept exactly
  } catch (err) {
    throw jsonError(400, `Invalid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(value)) {
    return { alerts: [check(value, "Alert")], batch: false };
  }
  if (value.length === 0) {
    throw jsonError(
      400,
      "Empty batch: the array must hold at least one alert object",
    );
  }
  if (value.length > maxAlerts) throw tooMany(value.length);
  return {
    alerts: value.map((element, i) =>
      check(element, `Element ${i} of the array`)
    ),
    batch: true,
  };
}
