/**
 * `elasticsearch` (the original's `custom_enrichment_data`): runs the detector's configured
 * Elasticsearch requests for an alert and returns hits and aggregations shaped for people.
 *
 * In a request body, `||key||` becomes the alert value JSON-encoded (quotes included) and
 * `||list_indexes||` the JSON list of the entry's `index`; in the URL they are percent-encoded.
 * Replacement is a single pass: a value containing `||other||` is never expanded again.
 *
 * Each request is built and sent by `_es_query.ts`; its response is shaped by `_es_shape.ts`.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { Client } from "@elastic/elasticsearch";
import { defineEnrichment } from "../core/plugin.ts";
import { Query, queryName, runQuery } from "./_es_query.ts";
import type { EsQueryResult } from "./_es_shape.ts";

export { type EsQueryResult, shapeResponse } from "./_es_shape.ts";

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
  reads: { detector: ["custom_enrichment_data"] }, // the queries, from the detector config
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
