/**
 * One configured Elasticsearch request, from template to shaped result: fills `||key||` and
 * `||list_indexes||` (JSON-encoded in the body, percent-encoded in the URL, in a single pass), checks
 * the body is JSON (NDJSON for `_msearch` and `_bulk`), and sends it with `transport.request`.
 *
 * @module
 */
import type { Client } from "@elastic/elasticsearch";
import { z } from "zod";
import { lookup } from "../core/plugin.ts";
import { errorText, type EsQueryResult, shapeResponse } from "./_es_shape.ts";

/** One entry of `query_data`: a request template. */
export const Query = z.looseObject({
  method: z.string().default("POST"),
  url: z.string().min(1),
  query: z.string().default(""),
  name: z.string().optional(),
});

/** A parsed `query_data` entry. */
export type EsQuery = z.output<typeof Query>;

const PLACEHOLDER = /\|\|([A-Za-z_@][\w@.-]*)\|\|/g;

/** Fills `||key||` placeholders in one pass; `encode` turns an alert value into text for its context. */
function fillPlaceholders(
  template: string,
  options: {
    alert: Readonly<Record<string, unknown>>;
    encode: (value: unknown) => string;
    listIndexes: string;
  },
): string {
  return template.replace(PLACEHOLDER, (_whole, key: string) => {
    if (key === "list_indexes") return options.listIndexes;
    const value = lookup(options.alert, key);
    if (value === undefined) {
      throw new TypeError(`Alert has no value for ||${key}||`);
    }
    return options.encode(value);
  });
}

/** Percent-encodes an alert value for a URL; refuses `.` and `..`, which would climb the path. */
function encodeUrlValue(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  if (text === "." || text === "..") {
    throw new TypeError(`Alert value "${text}" cannot be a URL path segment`);
  }
  return encodeURIComponent(text);
}

/** The name shown for a request: its `name`, or method and path of its URL template. */
export function queryName(query: EsQuery): string {
  return query.name ??
    `${query.method.toUpperCase()} /${
      query.url.split("?")[0]!.replace(/^\/+/, "")
    }`;
}

const NDJSON_PATH = /\/_(msearch|bulk)(\/template)?$/;

/** Sends one request for an alert and shapes its response; rejects with a message naming the request. */
export async function runQuery(
  client: Client,
  query: EsQuery,
  options: {
    indexes: string[];
    ctx: { alert: Readonly<Record<string, unknown>>; signal: AbortSignal };
    maxHits: number;
  },
): Promise<EsQueryResult[]> {
  const { alert, signal } = options.ctx;
  const method = query.method.toUpperCase();
  const url = fillPlaceholders(query.url, {
    alert,
    listIndexes: options.indexes.map(encodeURIComponent).join(","),
    encode: encodeUrlValue,
  });
  const mark = url.indexOf("?");
  const path = `/${
    (mark === -1 ? url : url.slice(0, mark)).replace(/^\/+/, "")
  }`;
  const querystring = mark === -1 ? "" : url.slice(mark + 1);
  const name = queryName(query);
  const body = fillPlaceholders(query.query, {
    alert,
    listIndexes: JSON.stringify(options.indexes),
    encode: (value) => JSON.stringify(value) ?? "null",
  });
  const ndjson = NDJSON_PATH.test(path);
  const lines = body.split(/\r?\n/).map((line) => line.trim()).filter(Boolean);
  lines.forEach((line, i) => {
    try {
      JSON.parse(line);
    } catch (err) {
      const where = ndjson ? ` line ${i + 1}` : "";
      throw new SyntaxError(
        `Query "${name}"${where} is not JSON after filling placeholders: ${
          (err as Error).message
        }`,
      );
    }
  });
  if (!ndjson && lines.length > 1) {
    throw new SyntaxError(
      `Query "${name}" has several JSON lines: use _msearch for that`,
    );
  }
  let response: unknown;
  try {
    response = await client.transport.request(
      {
        method,
        path,
        querystring,
        ...(lines.length === 0
          ? {}
          : ndjson
          ? { bulkBody: `${lines.join("\n")}\n` }
          : { body: lines[0]! }),
      },
      {
        signal,
        // Plain media types, so the same client talks to Elasticsearch 7.14+, 8 and 9.
        headers: {
          "content-type": ndjson ? "application/x-ndjson" : "application/json",
          accept: "application/json",
        },
      },
    );
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    throw new Error(`Elasticsearch request "${name}" failed: ${describe(err)}`);
  }
  return shapeResponse(name, response, { maxHits: options.maxHits });
}

function describe(err: unknown): string {
  const meta = (err as { meta?: { statusCode?: unknown; body?: unknown } })
    ?.meta;
  const error = (meta?.body as { error?: unknown } | undefined)?.error;
  if (typeof meta?.statusCode === "number") {
    return `HTTP ${meta.statusCode}${
      error === undefined ? "" : `: ${errorText(error)}`
    }`;
  }
  const message = err instanceof Error
    ? err.message.split("\n")[0]!
    : String(err);
  return message.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/\s@]*@/gi, "$1");
}
