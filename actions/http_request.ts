/**
 * `http_request`: calls an HTTP API (firewall block-IP, scanner launch and the like) and returns
 * `{status, body}`; a non-2xx answer fails the step.
 *
 * The URL's scheme and host come from config; alert values enter only its path and query, encoded (the
 * action route builds `url` from its template with `buildUrl` before this runs), and the body. Every hop
 * goes through `safeFetch`: private, loopback and metadata addresses are refused unless `allow_private`
 * is set, and `allow_hosts` limits the hosts, redirects included.
 *
 * @module
 */
import { z } from "zod";
import {
  defineAction,
  safeFetch,
  stringifyJson,
  urlProblem,
} from "../core/plugin.ts";

/** Response bodies longer than this are cut (the result is recorded and emailed). */
const MAX_BODY_BYTES = 256 * 1024;

const HeaderValue = z.string().refine(
  (v) => !/[\r\n\0]/.test(v),
  "must not contain line breaks",
);

const Params = z.strictObject({
  method: z.string().regex(/^[A-Za-z]+$/, "must be an HTTP method").transform((
    m,
  ) => m.toUpperCase()).default("GET"),
  url: z.url({ protocol: /^https?$/ }),
  headers: z.record(
    z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, "must be a header name"),
    HeaderValue,
  ).default({}),
  /**
   * A string is sent as is; anything else as JSON. A string that is exactly one placeholder
   * (`sid: "{alert.signature_id}"`) takes the value's own JSON type (`"sid":2018358`).
   */
  body: z.unknown().optional(),
  /** Allow private and loopback addresses (an internal firewall API). @default false */
  allow_private: z.boolean().default(false),
  /** Only these hosts (`api.example.com`, `*.example.com`); empty means any public host. @default [] */
  allow_hosts: z.array(z.string().min(1)).default([]),
});

async function readBody(response: Response): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < MAX_BODY_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return new TextDecoder().decode(bytes.subarray(0, MAX_BODY_BYTES));
}

function parseBody(text: string, contentType: string): unknown {
  if (/[/+]json\b/i.test(contentType) || /^\s*[[{]/.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      // not JSON after all: keep the text
    }
  }
  return text;
}

export default defineAction({
  name: "http_request",
  aliases: [],
  params: Params,
  sideEffects: true,
  urlParams: ["url"],
  check: (config) => {
    if (typeof config.url !== "string") {
      return [{
        path: "url",
        message:
          'required: where to send, e.g. "https://fw.example/api/block?ip={src_ip}"',
      }];
    }
    const problem = urlProblem(config.url);
    return problem ? [{ path: "url", message: problem }] : [];
  },
  permissions: { net: true },
  timeoutMs: 10_000,
  async run(params, ctx) {
    const headers = new Headers(params.headers);
    let body: string | undefined;
    if (
      params.body !== undefined && params.method !== "GET" &&
      params.method !== "HEAD"
    ) {
      if (typeof params.body === "string") {
        body = params.body;
        if (!headers.has("content-type")) {
          headers.set("content-type", "text/plain; charset=utf-8");
        }
      } else {
        body = stringifyJson(params.body);
        if (!headers.has("content-type")) {
          headers.set("content-type", "application/json");
        }
      }
    } else if (params.body !== undefined) {
      throw new TypeError(`A ${params.method} request cannot have a body`);
    }
    const url = new URL(params.url);
    const response = await safeFetch(url, {
      method: params.method,
      headers,
      ...(body !== undefined ? { body } : {}),
      signal: ctx.signal,
    }, {
      allowPrivate: params.allow_private,
      allowHosts: params.allow_hosts,
    });
    const text = await readBody(response);
    const result = {
      status: response.status,
      body: parseBody(text, response.headers.get("content-type") ?? ""),
    };
    if (!response.ok) {
      const detail = text.trim().replace(/\s+/g, " ").slice(0, 200);
      throw new Error(
        `${params.method} ${url.host}${url.pathname} answered ${response.status}${
          detail ? `: ${detail}` : ""
        }`,
      );
    }
    return result;
  },
});
