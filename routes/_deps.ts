/**
 * What the routes share (`AppDeps`), below `app.ts` so that the route files can name it without
 * importing the app that imports them. `app.ts` re-exports it.
 *
 * @module
 */
import type { Runtime } from "../core/pipeline/pipeline.ts";
import type { Metrics } from "../core/service/metrics.ts";
import type { Queue } from "../core/service/queue.ts";

/** What the routes share. */
export interface AppDeps {
  runtime: Runtime;
  queue: Queue;
  metrics: Metrics;
  /** @default () => Date.now() */
  now?: () => number;
}
