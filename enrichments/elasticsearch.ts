/**
 * `elasticsearch` (the original's `custom_enrichment_data`): runs the detector's configured
 * Elasticsearch requests for an alert and returns hits and aggregations shaped for people.
 *
 * In a request body, `||key||` becomes the alert value JSON-encoded (quotes included) and
 * `||list_indexes||` the JSON list of the entry's `index`; in the URL they are percent-encoded.
 * Replacement is a single pass: a value containing `||other||` is never expanded again.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { Client } from "@elastic/elasticsearch";
import { defineEnrichment, type Json, lookup } from "../core/plugin.ts";

const Query = z.looseObject({
  method: z.string().default("POST"),
  url: z.string().min(1),
  query: z.string().default(""),
  name: z.string().optional(),
});

const Entry = z.looseObject({
  index: z.union([z.string(), z.array(z.string())]),
  es_host: z.string().min(1),
  query_data: z.array(Query),
});

const Auth = z.union([
  z.strictObject({ username: z.string(), password: z.string() }),
  z.strictObject({ api_key: z.string().min(1) }),
]);

const Settings = z.looseObject({
  custom_enrichment_data: z.array(Entry).default([]),
  auth: Auth.optional(),
  max_hits: z.number().int().min(0).max(1_000).default(20),
});

type EsAuth = z.output<typeof Auth>;

/** One shaped search result (one per request, or one per `_msearch` response). */
export interface EsQueryResult {
  name: string;
  took_ms?: number;
  total?: number;
  hits?: Record<string, Json>[];
  aggregations?: Record<string, Json>;
  /** Set instead of hits when this request or `_msearch` item failed. */
  error?: string;
  /** A response that is not a search result (e.g. `_count`, `_cat`), as returned. */
  response?: Json;
}

const clients = new Map<string, Client>();

/** Closes every cached client (tests and shutdown). */
export async function closeElasticClients(): Promise<void> {
  const all = [...clients.values()];
  clients.clear();
  await Promise.allSettled(all.map((client) => client.close()));
}

/** The node URL for an `es_host`: a bare `host` or `host:port` gets `http://` and port 9200 by default. */
export function esNodeUrl(esHost: string): string {
  const host = esHost.trim().replace(/\/+$/, "");
  if (/^https?:\/\//i.test(host)) return host;
  return /:\d+$/.test(host) || /^\[.*\]:\d+$/.test(host)
    ? `http://${host}`
    : `http://${host}:9200`;
}

export default defineEnrichment({
  name: "elasticsearch",
  aliases: ["elastic_logs"],
  params: z.object({}),
  permissions: { net: true, sys: ["osRelease"] }, // the client reads the OS version when it loads
  timeoutMs: 10_000,
  async run(_params, ctx): Promise<EsQueryResult[]> {
    const settings = Settings.parse(ctx.settings);
    if (settings.custom_enrichment_data.length === 0) {
      throw new TypeError(
        "elasticsearch needs custom_enrichment_data in the detector config",
      );
    }
    const jobs = settings.custom_enrichment_data.flatMap((entry) => {
      const indexes = Array.isArray(entry.index) ? entry.index : [entry.index];
      const client = clientFor(esNodeUrl(entry.es_host), settings.auth);
      return entry.query_data.map((query) =>
        runQuery(client, query, { indexes, ctx, maxHits: settings.max_hits })
      );
    });
    const settled = await Promise.allSettled(jobs);
    if (ctx.signal.aborted) throw ctx.signal.reason;
    const failed = settled.filter((s) => s.status === "rejected");
    // Partial results are worth showing; an enrichment whose every request failed is an error.
    if (failed.length === settled.length) throw failed[0]!.reason;
    const queries = settings.custom_enrichment_data.flatMap((entry) =>
      entry.query_data
    );
    return settled.flatMap((s, i) =>
      s.status === "fulfilled"
        ? s.value
        : [{ name: queryName(queries[i]!), error: (s.reason as Error).message }]
    );
  },
});

function clientFor(node: string, auth: EsAuth | undefined): Client {
  const key = createHash("sha256").update(JSON.stringify([node, auth ?? null]))
    .digest("hex");
  let client = clients.get(key);
  if (!client) {
    client = new Client({
      node,
      maxRetries: 0,
      ...(auth
        ? { auth: "api_key" in auth ? { apiKey: auth.api_key } : auth }
        : {}),
    });
    clients.set(key, client);
  }
  return client;
}

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
function queryName(query: z.output<typeof Query>): string {
  return query.name ??
    `${query.method.toUpperCase()} /${
      query.url.split("?")[0]!.replace(/^\/+/, "")
    }`;
}

const NDJSON_PATH = /\/_(msearch|bulk)(\/template)?$/;

async function runQuery(
  client: Client,
  query: z.output<typeof Query>,
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

function errorText(error: unknown): string {
  if (typeof error === "string") return error;
  const e = error as {
    type?: unknown;
    reason?: unknown;
    root_cause?: { reason?: unknown }[];
  };
  const reason = e.reason ?? e.root_cause?.[0]?.reason;
  return [e.type, reason].filter((part) => typeof part === "string").join(
    ": ",
  ) || JSON.stringify(error);
}

/** Shapes an Elasticsearch response: one entry per search (one per `_msearch` item), hits flattened, aggregations as tables. */
export function shapeResponse(
  name: string,
  response: unknown,
  options: { maxHits?: number } = {},
): EsQueryResult[] {
  const maxHits = options.maxHits ?? 20;
  const body = isObject(response) ? response : {};
  if (Array.isArray(body.responses)) {
    const many = body.responses.length > 1;
    return body.responses.map((item, i) =>
      shapeSearch(many ? `${name} #${i + 1}` : name, item, maxHits)
    );
  }
  if ("hits" in body || "aggregations" in body || "error" in body) {
    return [shapeSearch(name, body, maxHits)];
  }
  if (typeof body.count === "number") return [{ name, total: body.count }];
  return [{ name, response: toJson(response) }];
}

function shapeSearch(
  name: string,
  item: unknown,
  maxHits: number,
): EsQueryResult {
  if (!isObject(item)) return { name, error: "not a search response" };
  if (item.error !== undefined) {
    return {
      name,
      error: `${
        typeof item.status === "number" ? `HTTP ${item.status}: ` : ""
      }${errorText(item.error)}`,
    };
  }
  const hits = isObject(item.hits) ? item.hits : {};
  const total = isObject(hits.total) ? hits.total.value : hits.total;
  const list = Array.isArray(hits.hits) ? hits.hits : [];
  const aggregations: Record<string, Json> = {};
  if (isObject(item.aggregations)) {
    for (const [aggName, agg] of Object.entries(item.aggregations)) {
      aggregations[aggName] = shapeAgg(aggName, agg);
    }
  }
  return {
    name,
    ...(typeof item.took === "number" ? { took_ms: item.took } : {}),
    total: typeof total === "number" ? total : list.length,
    hits: list.slice(0, maxHits).map(flattenHit),
    aggregations,
  };
}

function flattenHit(hit: unknown): Record<string, Json> {
  const h = isObject(hit) ? hit : {};
  const out: Record<string, Json> = {
    _index: toJson(h._index),
    _id: toJson(h._id),
  };
  if (isObject(h._source)) flattenInto(out, "", h._source);
  else if (isObject(h.fields)) {
    for (const [k, v] of Object.entries(h.fields)) {
      out[k] = Array.isArray(v) && v.length === 1 ? toJson(v[0]) : toJson(v);
    }
  }
  return out;
}

function flattenInto(
  out: Record<string, Json>,
  prefix: string,
  value: Record<string, unknown>,
): void {
  for (const [k, v] of Object.entries(value)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (isObject(v)) flattenInto(out, key, v);
    else out[key] = toJson(v);
  }
}

const BUCKET_META = new Set([
  "key",
  "key_as_string",
  "doc_count",
  "doc_count_error_upper_bound",
  "from_as_string",
  "to_as_string",
  "meta",
]);

/** A bucket aggregation becomes rows `{key, count, <sub-agg>: …}`; a metric becomes its value. */
function shapeAgg(name: string, agg: unknown): Json {
  if (!isObject(agg)) return toJson(agg);
  if (agg.buckets !== undefined) {
    const entries: [string | undefined, unknown][] = Array.isArray(agg.buckets)
      ? agg.buckets.map((b) => [undefined, b])
      : isObject(agg.buckets)
      ? Object.entries(agg.buckets)
      : [];
    const rows: Json[] = entries.map(([key, bucket]) => bucketRow(key, bucket));
    if (
      typeof agg.sum_other_doc_count === "number" && agg.sum_other_doc_count > 0
    ) {
      rows.push({ key: "(other)", count: agg.sum_other_doc_count });
    }
    return rows;
  }
  if (typeof agg.doc_count === "number") return [bucketRow(name, agg)];
  if ("value" in agg) return toJson(agg.value_as_string ?? agg.value);
  if (isObject(agg.values)) return toJson(agg.values);
  if (isObject(agg.hits) && Array.isArray(agg.hits.hits)) {
    return agg.hits.hits.map(flattenHit);
  }
  const { meta: _meta, ...rest } = agg;
  return toJson(rest);
}

function bucketRow(key: string | undefined, bucket: unknown): Json {
  const b = isObject(bucket) ? bucket : {};
  const row: Record<string, Json> = {
    key: toJson(
      b.key_as_string ?? key ??
        (Array.isArray(b.key) ? b.key.join(" | ") : b.key),
    ),
    count: toJson(b.doc_count),
  };
  for (const [subName, sub] of Object.entries(b)) {
    if (BUCKET_META.has(subName)) continue;
    row[subName] = isObject(sub) ? shapeAgg(subName, sub) : toJson(sub);
  }
  return row;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function toJson(value: unknown): Json {
  if (value === undefined) return null;
  try {
    return JSON.parse(
      JSON.stringify(
        value,
        (_k, v) => (typeof v === "bigint" ? v.toString() : v),
      ),
    ) ?? null;
  } catch {
    return String(value);
  }
}
