/**
 * The HTTP door: one Hono app with the ingest, health/metrics, one-click action and alert routes.
 * `app.onError` is the one error exit: HTTPException → its response, anything else → a logged 500.
 * `serve` runs it through `createHandler`, which sends `POST /ingest/<detector>` past the router.
 *
 * @module
 */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { errorMessage } from "../core/errors.ts";
import type { AppDeps } from "./_deps.ts";
import {
  type Answer,
  type FrontRequest,
  ingestEndpoints,
  type IngestHandler,
  ingestRoutes,
} from "./ingest.ts";
import { healthRoutes } from "./health.ts";
import { actionRoutes } from "./actions.ts";
import { alertRoutes } from "./alerts.ts";
import { slackRoutes } from "./slack.ts";
import {
  securityHeaders,
  setResponseHeaders,
} from "./http/security_headers.ts";

export type { AppDeps } from "./_deps.ts";

/** Builds the app; the caller serves it with Deno.serve (`serve` through {@link createHandler}). */
export function createApp(
  deps: AppDeps,
  options: { ingest?: IngestHandler } = {},
): Hono {
  const app = new Hono();
  app.use("*", async (c, next) => {
    await next();
    // Set on the response directly: c.header() after next() makes Hono copy the Response.
    setResponseHeaders(c, securityHeaders());
  });
  app.route("/", healthRoutes(deps));
  app.route("/", ingestRoutes(deps, options.ingest));
  app.route("/", actionRoutes(deps));
  app.route("/", alertRoutes(deps));
  app.route("/", slackRoutes(deps));
  app.notFound((c) => c.json({ error: "Not found" }, 404));
  app.onError((err, c) => {
    if (err instanceof HTTPException) return err.getResponse();
    return internalError(deps, c.req.raw, err);
  });
  return app;
}

/** A plain detector name in a request target: nothing Hono's router would decode or match otherwise. */
const INGEST_TARGET = /^\/ingest\/([A-Za-z0-9_.-]+)(?:\?.*)?$/;

/**
 * Deno.serve's handler: `POST /ingest/<detector>` goes straight to the ingest handler (the hot path:
 * Hono's router, context and middleware cost about a tenth of a request's CPU there), with the same
 * security headers and error exit as the app; every other request goes to the app built on the same
 * ingest handler (one rate limiter).
 */
export function createHandler(
  deps: AppDeps,
): (
  request: Request,
  info: Deno.ServeHandlerInfo,
) => Response | Promise<Response> {
  return createHandlers(deps).handler;
}

/**
 * {@link createHandler}'s handler, and `commit`: the main thread's part of an ingest request an HTTP
 * thread parsed (`routes/http_threads.ts`), on the same ingest handler, answered with the same
 * security headers and error exit.
 */
export function createHandlers(deps: AppDeps): {
  handler: (
    request: Request,
    info: Deno.ServeHandlerInfo,
  ) => Response | Promise<Response>;
  commit: (front: FrontRequest) => Promise<Answer>;
} {
  const security = securityHeaders();
  const headers = Object.entries(security);
  const { handle: ingest, commit } = ingestEndpoints(deps, {
    headers: security,
  });
  const app = createApp(deps, { ingest });
  // The ingest handler's answers carry the security headers already; only the error exit's need them.
  const fast = async (
    request: Request,
    name: string,
    remote: string | undefined,
  ): Promise<Response> => {
    try {
      return await ingest(request, name, remote);
    } catch (err) {
      const response = internalError(deps, request, err);
      for (const [k, v] of headers) response.headers.set(k, v);
      return response;
    }
  };
  const handler = (request: Request, info: Deno.ServeHandlerInfo) => {
    if (request.method === "POST") {
      const url = request.url;
      const start = url.indexOf("/", url.indexOf("//") + 2);
      const match = INGEST_TARGET.exec(url.slice(start));
      if (match) {
        const addr = info.remoteAddr as { hostname?: string };
        return fast(request, match[1]!, addr.hostname);
      }
    }
    return app.fetch(request, info);
  };
  return {
    handler,
    commit: async (front) => {
      let out: Answer;
      try {
        out = await commit(front);
      } catch (err) {
        const response = internalError(deps, undefined, err);
        out = {
          status: response.status,
          headers: [...response.headers],
          body: await response.text(),
        };
      }
      out.headers.push(...headers);
      return out;
    },
  };
}

/** The app's error exit for an unexpected error: logged (never an action token), a JSON 500. */
function internalError(
  deps: AppDeps,
  request: Request | undefined,
  err: unknown,
): Response {
  const path = request === undefined
    ? "/ingest"
    : new URL(request.url).pathname;
  deps.runtime.log("http_error", {
    method: request?.method ?? "POST",
    path: path.replace(/^\/actions\/[^/]+/, "/actions/[token]"),
    error: errorMessage(err),
  });
  return Response.json({ error: "Internal error" }, { status: 500 });
}
