import assert from "node:assert/strict";
import { Metrics } from "./metrics.ts";
import type { Runtime } from "../pipeline/pipeline.ts";
import type { Delivery } from "../delivery/delivery.ts";

const memory = () => ({
  rss: 123_456,
  heapUsed: 1000,
  heapTotal: 2000,
  external: 300,
});

/** The value of one sample line `name{labels} value`, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

Deno.test("Metrics.render() writes counters per detector with HELP and TYPE lines", () => {
  const metrics = new Metrics({ memory });
  metrics.init(["d1"]);
  metrics.ingested("d1", 3);
  metrics.ingested("d2");
  metrics.processed("d1", "delivered");
  metrics.processed("d1", "failed");
  metrics.processed("d1", "retry");
  const text = metrics.render();
  assert.match(
    text,
    /^# HELP blitz_alerts_ingested_total .+\n# TYPE blitz_alerts_ingested_total counter\n/,
  );
  assert.equal(sample(text, 'blitz_alerts_ingested_total{detector="d1"}'), 3);
  assert.equal(sample(text, 'blitz_alerts_ingested_total{detector="d2"}'), 1);
  assert.equal(
    sample(
      text,
      'blitz_alerts_processed_total{detector="d1",outcome="delivered"}',
    ),
    1,
  );
  assert.equal(
    sample(
      text,
      'blitz_alerts_processed_total{detector="d1",outcome="failed"}',
    ),
    1,
  );
  assert.equal(
    sample(text, 'blitz_alerts_processed_total{detector="d1",outcome="retry"}'),
    undefined,
  );
  assert.equal(sample(text, 'blitz_alerts_failed_total{detector="d1"}'), 1);
  assert.equal(sample(text, "process_resident_memory_bytes"), 123_456);
  assert.ok(text.endsWith("\n"));
});

Deno.test("Metrics.enrichment() feeds a latency histogram and status counts, cached calls counted apart", () => {
  const metrics = new Metrics({ memory, buckets: [0.01, 0.1, 1] });
  const base = { name: "Reverse DNS", func: "reverse_dns" } as const;
  metrics.enrichment("d1", { ...base, status: "ok", ms: 5 });
  metrics.enrichment("d1", { ...base, status: "ok", ms: 50 });
  metrics.enrichment("d1", { ...base, status: "timeout", ms: 2000 });
  metrics.enrichment("d1", { ...base, status: "ok", ms: 0, cached: true });
  metrics.enrichment("d1", { ...base, status: "skipped", ms: 0 });
  const text = metrics.render();
  const l = 'detector="d1",enrichment="Reverse DNS",func="reverse_dns"';
  assert.equal(
    sample(text, `blitz_enrichment_duration_seconds_bucket{${l},le="0.01"}`),
    1,
  );
  assert.equal(
    sample(text, `blitz_enrichment_duration_seconds_bucket{${l},le="0.1"}`),
    2,
  );
  assert.equal(
    sample(text, `blitz_enrichment_duration_seconds_bucket{${l},le="1"}`),
    2,
  );
  assert.equal(
    sample(text, `blitz_enrichment_duration_seconds_bucket{${l},le="+Inf"}`),
    3,
  );
  assert.equal(
    sample(text, `blitz_enrichment_duration_seconds_count{${l}}`),
    3,
  );
  assert.equal(
    sample(text, `blitz_enrichment_duration_seconds_sum{${l}}`),
    2.055,
  );
  assert.equal(
    sample(text, `blitz_enrichment_results_total{${l},status="ok"}`),
    3,
  );
  assert.equal(
    sample(text, `blitz_enrichment_results_total{${l},status="timeout"}`),
    1,
  );
  assert.equal(
    sample(text, `blitz_enrichment_results_total{${l},status="skipped"}`),
    1,
  );
  assert.equal(sample(text, `blitz_enrichment_cache_hits_total{${l}}`), 1);
});

Deno.test("Metrics.render() escapes label values", () => {
  const metrics = new Metrics({ memory });
  metrics.ingested('a"b\\c\nd');
  assert.equal(
    sample(
      metrics.render(),
      'blitz_alerts_ingested_total{detector="a\\"b\\\\c\\nd"}',
    ),
    1,
  );
});

Deno.test("Metrics.gauge() is read at render time", () => {
  const metrics = new Metrics({ memory });
  let backlog = 1;
  metrics.gauge("blitz_backlog", "Backlog", () => backlog);
  backlog = 7;
  assert.equal(sample(metrics.render(), "blitz_backlog"), 7);
});

Deno.test("Metrics.instrument() counts delivery attempts and failures per detector", async () => {
  const metrics = new Metrics({ memory });
  let fail = false;
  let closed = false;
  const delivery: Delivery = {
    send: (m) =>
      fail
        ? Promise.reject(new Error("down"))
        : Promise.resolve({ status: "sent", messageId: m.messageId }),
    close: () => Promise.resolve(void (closed = true)),
  };
  const seen: string[] = [];
  const runtime = metrics.instrument(
    {
      delivery,
      onEnrichment: (d: string) => seen.push(d),
    } as unknown as Runtime,
  );
  const message = {
    from: "a@x",
    to: ["b@x"],
    cc: [],
    subject: "s",
    html: "",
    text: "",
    messageId: "<1@x>",
    headers: { "X-Blitz-Detector": "d1" },
  };
  await runtime.delivery.send(message);
  fail = true;
  await assert.rejects(runtime.delivery.send(message), /down/);
  runtime.onEnrichment!("d1", { name: "n", func: "f", status: "ok", ms: 1 });
  await runtime.delivery.close();
  const text = metrics.render();
  assert.equal(sample(text, 'blitz_delivery_attempts_total{detector="d1"}'), 2);
  assert.equal(sample(text, 'blitz_delivery_failures_total{detector="d1"}'), 1);
  assert.equal(
    sample(
      text,
      'blitz_enrichment_results_total{detector="d1",enrichment="n",func="f",status="ok"}',
    ),
    1,
  );
  assert.deepEqual(seen, ["d1"], "the runtime's own hook still runs");
  assert.equal(closed, true);
});
