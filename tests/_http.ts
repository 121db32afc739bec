/**
 * Loopback HTTP servers for tests: a receiver that records every request and answers as the test
 * says, a fake Jira built on it, and a server started before the app it will serve exists.
 *
 * @example
 * ```ts
 * const api = startReceiver(({ path }) =>
 *   path === "/ok" ? Response.json({ ok: true }) : new Response("no", { status: 404 })
 * );
 * try {
 *   await fetch(`${api.url}/ok`, { method: "POST", body: "hi" });
 *   // api.requests[0]: { method: "POST", path: "/ok", search: "", headers, body: "hi" }
 * } finally {
 *   await api.close();
 * }
 * ```
 *
 * @module
 */

/** One request a {@link Receiver} received. */
export interface RecordedRequest {
  method: string;
  /** The URL's pathname, as sent (percent-encoding kept). */
  path: string;
  /** The URL's query with its `?`, or `""`. */
  search: string;
  headers: Headers;
  /** The body read as text (`""` when there is none). */
  body: string;
}

/** A running loopback server that records requests; close it in `finally`. */
export interface Receiver {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Every request received, in order of arrival. */
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/** Starts a server on 127.0.0.1 with a random port that records each request, then answers with `respond`. */
export function startReceiver(
  respond: (
    request: RecordedRequest,
    url: URL,
  ) => Response | Promise<Response>,
): Receiver {
  const requests: RecordedRequest[] = [];
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
  }, async (req) => {
    const url = new URL(req.url);
    const request: RecordedRequest = {
      method: req.method,
      path: url.pathname,
      search: url.search,
      headers: req.headers,
      body: await req.text(),
    };
    requests.push(request);
    return await respond(request, url);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    close: () => server.shutdown(),
  };
}

/**
 * Starts a loopback Jira: `POST /rest/api/2/issue` creates SOC-1, SOC-2, … and answers 201
 * `{id, key, self}`; anything else is 404.
 */
export function fakeJira(
  options: {
    /** Jira Cloud also answers REST v3 (`/rest/api/3/issue`); Data Center only v2. @default false */
    cloud?: boolean;
    /** Answer every create with 400 and a field error (summary missing). @default false */
    fail?: boolean;
    /**
     * Answer every create with 401 whose message echoes the request's `Authorization` header, padded
     * with `padding` characters, as a misbehaving Jira or proxy does. @default false
     */
    echoAuthorization?: boolean;
    /** @default 0 */
    padding?: number;
  } = {},
): Receiver {
  const create = options.cloud
    ? /^\/rest\/api\/[23]\/issue$/
    : /^\/rest\/api\/2\/issue$/;
  let next = 1;
  return startReceiver(({ method, path, headers }, url) => {
    if (method !== "POST" || !create.test(path)) {
      return Response.json({ errorMessages: ["Not found"] }, { status: 404 });
    }
    if (options.echoAuthorization) {
      return Response.json({
        errorMessages: [
          `Unauthorized: rejected header Authorization: ${
            headers.get("authorization")
          } ${"x".repeat(options.padding ?? 0)}`,
        ],
      }, { status: 401 });
    }
    if (options.fail) {
      return Response.json({
        errorMessages: [],
        errors: { summary: "You must specify a summary of the issue." },
      }, { status: 400 });
    }
    const id = String(10_000 + next);
    return Response.json({
      id,
      key: `SOC-${next++}`,
      self: `${url.origin}${path}/${id}`,
    }, { status: 201 });
  });
}

/** A loopback server whose handler is set later; see {@link startDeferredServer}. */
export interface DeferredServer {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Sends every later request to `handler`. */
  handle(handler: Deno.ServeHandler<Deno.NetAddr>): void;
  close(): Promise<void>;
}

/**
 * Starts a server on 127.0.0.1 with a random port before the app it serves exists (the app's config
 * needs the URL, e.g. as `public_url`); it answers 503 until `handle()` is called.
 */
export function startDeferredServer(): DeferredServer {
  let handler: Deno.ServeHandler<Deno.NetAddr> = () =>
    new Response("starting", { status: 503 });
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
  }, (req, info) => handler(req, info));
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    handle: (next) => {
      handler = next;
    },
    close: () => server.shutdown(),
  };
}
