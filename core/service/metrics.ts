/**
 * Service metrics in the Prometheus text exposition format (version 0.0.4): alerts ingested, processed
 * and failed per detector, enrichment latency and outcomes per enrichment, delivery attempts and
 * failures, HTTP responses, the backlog, and process memory.
 *
 * @module
 */
import type { Delivery, OutgoingMessage } from "../delivery/delivery.ts";
import type { Runtime } from "../pipeline/pipeline.ts";
import type { AlertStatus, EnrichmentResult } from "../store/store.ts";
import {
  type Family,
  familyText,
  type Gauge,
  gaugeText,
  type Labels,
  labelText,
  processText,
} from "./_metrics_text.ts";

/** The `Content-Type` of {@link Metrics.render}'s output. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Default latency buckets in seconds (5 ms … 30 s). */
export const LATENCY_BUCKETS: readonly number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
];

/**
 * Counters, gauges and histograms of the service, rendered on demand.
 *
 * @example
 * ```ts
 * const metrics = new Metrics();
 * metrics.ingested("device_1", 3);
 * console.log(metrics.render());
 * ```
 */
export class Metrics {
  #families = new Map<string, Family>();
  #gauges = new Map<string, Gauge>();
  #buckets: readonly number[];
  #memory: () => {
    rss: number;
    heapUsed: number;
    heapTotal: number;
    external: number;
  };
  #started = Date.now() / 1000;

  constructor(
    options: {
      /** Histogram buckets (seconds). @default LATENCY_BUCKETS */
      buckets?: readonly number[];
      /** Memory reader. @default Deno.memoryUsage */
      memory?: () => {
        rss: number;
        heapUsed: number;
        heapTotal: number;
        external: number;
      };
    } = {},
  ) {
    this.#buckets = options.buckets ?? LATENCY_BUCKETS;
    this.#memory = options.memory ?? (() => Deno.memoryUsage());
  }

  /** Creates the per-detector series at zero, so dashboards and alert rules see them before the first alert. */
  init(detectors: Iterable<string>): void {
    for (const detector of detectors) {
      this.ingested(detector, 0);
      this.#add(
        "blitz_alerts_processed_total",
        "Alerts that finished processing, by outcome",
        { detector, outcome: "delivered" },
        0,
      );
      this.#add(
        "blitz_alerts_failed_total",
        "Alerts that failed for good (still recorded)",
        { detector },
        0,
      );
      this.#add(
        "blitz_delivery_attempts_total",
        "Delivery attempts (SMTP or outbox)",
        { detector },
        0,
      );
      this.#add(
        "blitz_delivery_failures_total",
        "Delivery attempts that failed",
        { detector },
        0,
      );
      if (
        !this.#families.get("blitz_storm_mode")?.series.has(
          labelText({ detector }),
        )
      ) {
        this.stormMode(detector, false);
      }
    }
  }

  /** Alerts durably accepted by ingest. */
  ingested(detector: string, count = 1): void {
    this.#add(
      "blitz_alerts_ingested_total",
      "Alerts accepted by ingest (durably stored)",
      { detector },
      count,
    );
  }

  /** Alerts that were sent again under a known idempotency key (no new alert). */
  duplicates(detector: string, count = 1): void {
    this.#add(
      "blitz_alerts_duplicate_total",
      "Ingested alerts recognised as retries of an earlier one",
      { detector },
      count,
    );
  }

  /** An alert reached a state after processing: delivered, not_sent, failed (final) or retry. */
  processed(detector: string, status: AlertStatus): void {
    if (status === "retry") return;
    this.#add(
      "blitz_alerts_processed_total",
      "Alerts that finished processing, by outcome",
      { detector, outcome: status },
    );
    if (status === "failed") {
      this.#add(
        "blitz_alerts_failed_total",
        "Alerts that failed for good (still recorded)",
        { detector },
      );
    }
  }

  /** One finished enrichment: its status, and its latency unless cached or skipped. */
  enrichment(detector: string, result: EnrichmentResult): void {
    const labels = { detector, enrichment: result.name, func: result.func };
    this.#add(
      "blitz_enrichment_results_total",
      "Enrichment results by status",
      { ...labels, status: result.status },
    );
    if (result.cached) {
      this.#add(
        "blitz_enrichment_cache_hits_total",
        "Enrichment results served from the cache",
        labels,
      );
    } else if (result.status !== "skipped") {
      this.#observe(
        "blitz_enrichment_duration_seconds",
        "Enrichment latency (uncached calls)",
        labels,
        result.ms / 1000,
      );
    }
  }

  /** One delivery attempt and its outcome. */
  delivery(detector: string, ok: boolean, seconds: number): void {
    this.#add(
      "blitz_delivery_attempts_total",
      "Delivery attempts (SMTP or outbox)",
      { detector },
    );
    if (!ok) {
      this.#add(
        "blitz_delivery_failures_total",
        "Delivery attempts that failed",
        { detector },
      );
    }
    this.#observe(
      "blitz_delivery_duration_seconds",
      "Delivery latency",
      {},
      seconds,
    );
  }

  /** One HTTP response of a route. */
  request(route: string, status: number): void {
    this.#add(
      "blitz_http_responses_total",
      "HTTP responses by route and status code",
      { route, code: String(status) },
    );
  }

  /** One channel delivery attempt (Slack, Teams, webhook, PagerDuty, plugin), by outcome. */
  channelAttempt(channel: string, type: string, outcome: string): void {
    this.#add(
      "blitz_channel_attempts_total",
      "Channel delivery attempts by channel, type and outcome (delivered, retry, failed)",
      { channel, type, outcome },
    );
  }

  /** An alert storm control stored and did not mail, by reason. */
  suppressed(detector: string, reason: string): void {
    this.#add(
      "blitz_suppressed_total",
      "Alerts stored and not mailed by storm control, by reason (realert, group, silence, ack, breaker)",
      { detector, reason },
    );
  }

  /** A storm email sent: digests count in blitz_digests_total, breaker notices set blitz_storm_mode. */
  stormEmail(detector: string, kind: string): void {
    if (kind === "digest" || kind === "group" || kind === "breaker_digest") {
      this.#add(
        "blitz_digests_total",
        "Digest emails sent by storm control (closed windows, groups, storm mode)",
        { detector },
      );
    }
    if (kind === "breaker_on" || kind === "breaker_off") {
      this.stormMode(detector, kind === "breaker_on");
    }
  }

  /** Storm mode (the breaker) of a detector: 1 on, 0 off. */
  stormMode(detector: string, on: boolean): void {
    const family = this.#family(
      "blitz_storm_mode",
      "gauge",
      "1 while the storm breaker holds a detector to digests only",
    );
    const labels = { detector };
    family.series.set(labelText(labels), { labels, value: on ? 1 : 0 });
  }

  /** Registers a gauge read at render time (e.g. the backlog); `type: "counter"` for a running total. */
  gauge(
    name: string,
    help: string,
    read: () => number,
    type: "gauge" | "counter" = "gauge",
  ): void {
    this.#gauges.set(name, { help, read, type });
  }

  /**
   * A copy of the runtime whose delivery and enrichment hook feed these metrics (attempts, failures,
   * latency); everything else is shared with the original.
   */
  /** One retention run: bodies and emails cleared, and the bytes of data they held. */
  purged(counts: { alerts: number; emails: number; bytes: number }): void {
    const help =
      "Finished alerts whose body or rendered email retention cleared";
    this.#add(
      "blitz_retention_purged_total",
      help,
      { kind: "alerts" },
      counts.alerts,
    );
    this.#add(
      "blitz_retention_purged_total",
      help,
      { kind: "emails" },
      counts.emails,
    );
    this.#add(
      "blitz_retention_freed_bytes_total",
      "Bytes of alert data and emails retention cleared from the store",
      {},
      counts.bytes,
    );
  }

  instrument(runtime: Runtime): Runtime {
    const delivery: Delivery = {
      send: async (message: OutgoingMessage) => {
        const detector = message.headers?.["X-Blitz-Detector"] ?? "";
        const started = performance.now();
        try {
          const result = await runtime.delivery.send(message);
          this.delivery(detector, true, (performance.now() - started) / 1000);
          return result;
        } catch (err) {
          this.delivery(detector, false, (performance.now() - started) / 1000);
          throw err;
        }
      },
      close: () => runtime.delivery.close(),
    };
    const previous = runtime.onEnrichment;
    return {
      ...runtime,
      delivery,
      onSuppressed: (detector, reason) => this.suppressed(detector, reason),
      onStormEmail: (detector, kind) => this.stormEmail(detector, kind),
      onChannelAttempt: (channel, type, outcome) =>
        this.channelAttempt(channel, type, outcome),
      onEnrichment: (detector, result) => {
        previous?.(detector, result);
        this.enrichment(detector, result);
      },
    };
  }

  /** The exposition text: every family with HELP and TYPE lines, then process metrics. */
  render(): string {
    const blocks: string[] = [];
    for (const entry of this.#families) {
      blocks.push(familyText(entry, this.#buckets));
    }
    for (const entry of this.#gauges) blocks.push(gaugeText(entry));
    blocks.push(processText(this.#memory(), this.#started));
    return blocks.join("\n") + "\n";
  }

  #family(name: string, type: Family["type"], help: string): Family {
    let family = this.#families.get(name);
    if (!family) {
      this.#families.set(name, family = { type, help, series: new Map() });
    }
    return family;
  }

  #add(name: string, help: string, labels: Labels, count = 1): void {
    const family = this.#family(name, "counter", help);
    const key = labelText(labels);
    const series = family.series.get(key);
    if (series) series.value += count;
    else family.series.set(key, { labels, value: count });
  }

  #observe(name: string, help: string, labels: Labels, value: number): void {
    const family = this.#family(name, "histogram", help);
    const key = labelText(labels);
    let series = family.series.get(key);
    if (!series) {
      family.series.set(
        key,
        series = {
          labels,
          value: 0,
          buckets: this.#buckets.map(() => 0),
          sum: 0,
        },
      );
    }
    series.value++;
    series.sum! += value;
    this.#buckets.forEach((le, i) => {
      if (value <= le) series.buckets![i]!++;
    });
  }
}
