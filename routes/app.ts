/**
 * The HTTP door: one Hono app with the ingest, health/metrics, one-click action and alert routes.
 * `app.onError` is the one error exit: HTTPException → its response, anything else → a logged 500.
 *
 * @module
 */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { errorMessage } from "../core/errors.ts";
import type { AppDeps } from "./_deps.ts";
import { ingestRoutes } from "./ingest.ts";
import { healthRoutes } from "./health.ts";
import { actionRoutes } from "./actions.ts";
import { alertRoutes } from "./alerts.ts";
import { slackRoutes } from "./slack.ts";
import {
  securityHeaders,
  setResponseHeaders,
} from "./http/security_headers.ts";

export type { AppDeps } from "./_deps.ts";

/** Builds the app; the caller serves it with Deno.serve. */
export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  app.use("*", async (c, next) => {
    await next();
    // Set on the response directly: c.header() after next() makes Hono copy the Response.
    setResponseHeaders(c, securityHeaders());
  });
  app.route("/", healthRoutes(deps));
  app.route("/", ingestRoutes(deps));
  app.route("/", actionRoutes(deps));
  app.route("/", alertRoutes(deps));
  app.route("/", slackRoutes(deps));
  app.notFound((c) => c.json({ error: "Not found" }, 404));
  app.onError((err, c) => {
    if (err instanceof HTTPException) return err.getResponse();
    deps.runtime.log("http_error", {
      method: c.req.method,
      path: c.req.path.replace(/^\/actions\/[^/]+/, "/actions/[token]"), // never log an action token
      error: errorMessage(err),
    });
    return c.json({ error: "Internal error" }, 500);
  });
  return app;
}
