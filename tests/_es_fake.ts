/**
 * A loopback Elasticsearch fake: routes by method and path, checks the exact body it receives, and
 * answers like Elasticsearch (`x-elastic-product: Elasticsearch`, JSON).
 *
 * A request that matches no route, or whose body differs from the route's `body`, gets a 400 with an
 * Elasticsearch-style error naming the difference, and is listed in `mismatches`.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import http from "node:http";
import type { AddressInfo } from "node:net";

/** A request the fake received. */
export interface EsFakeRequest {
  method: string;
  path: string;
  /** The raw query string, without `?`. */
  query: string;
  headers: Headers;
  body: string;
}

/** One expected request and its answer. */
export interface EsFakeRoute {
  method: string;
  path: string;
  /** Exact expected query string, when given. */
  query?: string;
  /** Exact expected body, when given. */
  body?: string;
  status?: number;
  /** The JSON answer, or a function computing it (may wait, e.g. to test aborts). */
  respond: unknown | ((request: EsFakeRequest) => unknown | Promise<unknown>);
}

/** A running fake. */
export interface EsFake {
  /** `http://127.0.0.1:PORT` */
  url: string;
  requests: EsFakeRequest[];
  /** One line per request that matched no route or whose query string or body differed. */
  mismatches: string[];
  close(): Promise<void>;
}

/** Starts the fake on a random loopback port. */
export async function startEsFake(routes: EsFakeRoute[]): Promise<EsFake> {
  const requests: EsFakeRequest[] = [];
  const mismatches: string[] = [];
  const reply = (res: http.ServerResponse, status: number, answer: unknown) => {
    res.writeHead(status, {
      "content-type": "application/json",
      "x-elastic-product": "Elasticsearch",
    });
    res.end(JSON.stringify(answer));
  };
  const mismatch = (res: http.ServerResponse, reason: string) => {
    mismatches.push(reason);
    const error = { type: "fake_mismatch", reason };
    reply(res, 400, { error: { ...error, root_cause: [error] }, status: 400 });
  };
  // node:http rather than Deno.serve: Deno.serve drops the body of a GET, which Elasticsearch accepts.
  const server = http.createServer(async (req, res) => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of req) chunks.push(chunk as Uint8Array);
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) {
        headers.set(name, Array.isArray(value) ? value.join(", ") : value);
      }
    }
    const request: EsFakeRequest = {
      method: req.method ?? "",
      path: url.pathname,
      query: url.search.replace(/^\?/, ""),
      headers,
      body: new TextDecoder().decode(Buffer.concat(chunks)),
    };
    requests.push(request);
    const route = routes.find((r) =>
      r.method === request.method && r.path === request.path
    );
    if (!route) {
      return mismatch(res, `no route for ${request.method} ${request.path}`);
    }
    if (route.query !== undefined && route.query !== request.query) {
      const detail = `expected ${JSON.stringify(route.query)}, got ${
        JSON.stringify(request.query)
      }`;
      return mismatch(
        res,
        `query string of ${request.method} ${request.path}: ${detail}`,
      );
    }
    if (route.body !== undefined && route.body !== request.body) {
      const detail = `expected ${JSON.stringify(route.body)}, got ${
        JSON.stringify(request.body)
      }`;
      return mismatch(
        res,
        `body of ${request.method} ${request.path}: ${detail}`,
      );
    }
    const answer = typeof route.respond === "function"
      ? await route.respond(request)
      : route.respond;
    if (!res.destroyed) reply(res, route.status ?? 200, answer);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    mismatches,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
