/**
 * Shapes Elasticsearch responses for people: one entry per search (one per `_msearch` item), hits
 * flattened to dotted keys, bucket aggregations as tables of `{key, count, …}` rows.
 *
 * @module
 */
import { type Json, toJson } from "../core/plugin.ts";

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

/** `type: reason` from an Elasticsearch error object (or the string itself, or its JSON). */
export function errorText(error: unknown): string {
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
