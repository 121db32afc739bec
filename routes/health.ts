/**
 * `GET /healthz` (store writable, backlog, workers; 503 when the store cannot be written or the service
 * is stopping) and `GET /metrics` (Prometheus text format).
 *
 * @module
 */
import { Hono } from "hono";
import type { AppDeps } from "./_deps.ts";
import { METRICS_CONTENT_TYPE } from "../core/service/metrics.ts";
import { renderPluginMetrics } from "../core/service/plugin_metrics.ts";

/** The health and metrics routes; also registers the queue's gauges with the metrics. */
export function healthRoutes(deps: AppDeps): Hono {
  const { runtime, queue, metrics } = deps;
  const maxBacklog = runtime.config.global.max_backlog;
  metrics.gauge(
    "blitz_backlog",
    "Alerts queued, processing or waiting for a delivery retry",
    () => queue.backlog,
  );
  metrics.gauge(
    "blitz_max_backlog",
    "Backlog above which ingest answers 503",
    () => maxBacklog,
  );
  metrics.gauge("blitz_workers", "Workers started", () => queue.workers);
  if (runtime.store.commits) {
    const store = runtime.store;
    metrics.gauge(
      "blitz_store_durable_commits_total",
      "Store commits that waited for an fsync (new alerts, action runs)",
      () => store.commits?.full ?? 0,
      "counter",
    );
    metrics.gauge(
      "blitz_store_bookkeeping_commits_total",
      "Store commits without an fsync (claims, delivery outcomes)",
      () => store.commits?.normal ?? 0,
      "counter",
    );
    metrics.gauge(
      "blitz_store_checkpoints_total",
      "WAL checkpoints into the database file, fsynced off the event loop",
      () => store.checkpoints ?? 0,
      "counter",
    );
    metrics.gauge(
      "blitz_store_checkpoint_failures_total",
      "WAL checkpoints whose copy failed (retried; a failed fsync breaks the store instead)",
      () => store.checkpointFailures ?? 0,
      "counter",
    );
  }
  metrics.gauge(
    "blitz_workers_busy",
    "Workers processing an alert",
    () => queue.busy,
  );
  const app = new Hono();

  app.get("/healthz", async (c) => {
    let writable = false;
    try {
      writable = await runtime.store.ping();
    } catch {
      writable = false;
    }
    const running = queue.running;
    const reason = !running
      ? "stopping"
      : !writable
      ? runtime.store.lastError ?? "the store cannot be written"
      : undefined;
    const body = {
      status: writable && running ? "ok" : running ? "unavailable" : "stopping",
      store: writable ? "writable" : "unwritable",
      ...(reason ? { reason } : {}),
      backlog: queue.backlog,
      max_backlog: maxBacklog,
      accepting: running && writable && queue.backlog < maxBacklog,
      workers: queue.workers,
      busy: queue.busy,
      processing: queue.workers === 0 ? "paused" : "running",
    };
    return c.json(body, writable && running ? 200 : 503);
  });

  app.get(
    "/metrics",
    (c) =>
      c.body(
        metrics.render() +
          renderPluginMetrics(
            runtime.sandbox?.stats(),
            runtime.limits?.stats(),
          ),
        200,
        { "Content-Type": METRICS_CONTENT_TYPE },
      ),
  );

  return app;
}
