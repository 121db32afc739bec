/**
 * The HTTP door: one Hono app with the ingest, health/metrics, one-click action and alert routes.
 * `app.onError` is the one error exit: HTTPException → its response, anything else → a logged 500.
 *
 * @module
 */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { Runtime } from "../core/pipeline/pipeline.ts";
import { errorMessage } from "../core/plugins/call.ts";
import type { Metrics } from "../core/service/metrics.ts";
import type { Queue } from "../core/service/queue.ts";
import { ingestRoutes } from "./ingest.ts";
import { healthRoutes } from "./health.ts";
import { actionRoutes } from "./actions.ts";
import { alertRoutes } from "./alerts.ts";

const SECURITY_HEADERS: [string, string][] = [
  ["X-Content-Type-Options", "nosniff"],
  ["Referrer-Policy", "no-referrer"],
  ["Cache-Control", "no-store"],
];

/** What the routes share. */
export interface AppDeps {
  runtime: Runtime;
  queue: Queue;
  metrics: Metrics;
  /** @default () => Date.now() */
  now?: () => number;
}

/** Builds the app; the caller serves it with Deno.serve. */
export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  app.use("*", async (c, next) => {
    await next();
    // Set on the response directly: c.header() after next() makes Hono copy the Response.
    for (const [name, value] of SECURITY_HEADERS) {
      try {
        c.res.headers.set(name, value);
      } catch {
        c.header(name, value); // immutable headers (e.g. a fetched Response): let Hono copy it
      }
    }
  });
  app.route("/", healthRoutes(deps));
  app.route("/", ingestRoutes(deps));
  app.route("/", actionRoutes(deps));
  app.route("/", alertRoutes(deps));
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
