/**
 * `http_api`: calls a JSON or text HTTP API whose URL comes from config, filled with alert values.
 *
 * The URL template and headers come from the detector's `e_args` (headers already `${env:}`-resolved);
 * alert values only ever fill `{key}` placeholders in the URL path/query (percent-encoded) and in string
 * leaves of the JSON body (as strings), never the host and never a header. Outbound calls go through
 * `safeFetch`, so private and metadata addresses are refused unless `allow_private` says otherwise.
 *
 * @example
 * ```yaml
 * enrichments:
 *   - e_func: http_api
 *     e_args:
 *       url: "https://api.example/v1/ip/{source.ip}?fields={fields}"
 *       headers: { authorization: "Bearer ${env:API_TOKEN}" }
 *       allow_hosts: ["api.example"]
 * ```
 *
 * @module
 */
import { z } from "zod";
import {
  buildUrl,
  defineEnrichment,
  fillText,
  readTextCapped,
  safeFetch,
  type SafeFetchPolicy,
  stringifyJson,
  urlProblem,
} from "../core/plugin.ts";

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\b/i;

export default defineEnrichment({
  name: "http_api",
  aliases: ["api_lookup"],
  check: (args) => {
    if (typeof args.url !== "string") {
      return [{
        path: "url",
        message:
          'required: the API URL, e.g. "https://api.example/v1/ip/{src_ip}"',
      }];
    }
    const problem = urlProblem(args.url);
    return problem ? [{ path: "url", message: problem }] : [];
  },
  params: z.object({
    url: z.string(),
    method: z.enum(["GET", "POST"]).default("GET"),
    headers: z.record(z.string(), z.string()).default({}),
    body: z.unknown().optional(),
    allow_hosts: z.array(z.string()).optional(),
    allow_private: z.boolean().default(false),
    max_bytes: z.number().int().positive().default(1_000_000),
  }).refine((p) => p.body === undefined || p.method === "POST", {
    error: "body is only sent with method POST",
    path: ["body"],
  }),
  positional: [],
  permissions: { net: true },
  timeoutMs: 5000,
  async run(params, ctx): Promise<unknown> {
    const url = buildUrl(params.url, ctx.alert);
    const headers = new Headers(params.headers);
    if (!headers.has("accept")) {
      headers.set("accept", "application/json, text/plain;q=0.9, */*;q=0.5");
    }
    const init: RequestInit & { signal: AbortSignal } = {
      method: params.method,
      headers,
      signal: ctx.signal,
    };
    if (params.body !== undefined) {
      init.body = stringifyJson(fillJson(params.body, ctx.alert));
      if (!headers.has("content-type")) {
        headers.set("content-type", "application/json");
      }
    }
    const policy: SafeFetchPolicy = { allowPrivate: params.allow_private };
    if (params.allow_hosts) policy.allowHosts = params.allow_hosts;

    const response = await safeFetch(url, init, policy);
    // Name the host only: the path or query may carry an API key.
    const host = new URL(response.url || url).hostname;
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`HTTP ${response.status} from ${host}`);
    }
    const text = await readTextCapped(response, {
      maxBytes: params.max_bytes,
      host,
      limit: `max_bytes (${params.max_bytes})`,
    });
    if (!JSON_TYPE.test(response.headers.get("content-type") ?? "")) {
      return text;
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new SyntaxError(`Invalid JSON from ${host}`);
    }
  },
});

/** Fills `{key}` placeholders in every string leaf of a JSON value; values go in as strings, never parsed. */
function fillJson(
  value: unknown,
  alert: Readonly<Record<string, unknown>>,
): unknown {
  if (typeof value === "string") return fillText(value, alert);
  if (Array.isArray(value)) return value.map((item) => fillJson(item, alert));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, fillJson(item, alert)]),
    );
  }
  return value;
}
