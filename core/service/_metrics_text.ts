/**
 * The Prometheus text exposition format (version 0.0.4) of `Metrics`: escaping label values, and the
 * lines of a counter or histogram family, of a gauge read at render time, and of the process metrics.
 *
 * @module
 */
/** The labels of one series, in the order they are rendered. */
export type Labels = Record<string, string>;

/** One metric family: its type, its HELP text, and its series keyed by {@link labelText}. */
export interface Family {
  type: "counter" | "gauge" | "histogram";
  help: string;
  series: Map<
    string,
    { labels: Labels; value: number; buckets?: number[]; sum?: number }
  >;
}

/** A gauge (or running total) registered with `Metrics.gauge()`, read at render time. */
export interface Gauge {
  help: string;
  read: () => number;
  type: "gauge" | "counter";
}

/** The process memory figures rendered as `process_*` gauges. */
export interface Memory {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}

const NEEDS_ESCAPE = /[\\"\n]/;

/** Escapes a label value: backslash, double quote and line feed. */
export function escapeLabel(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value; // the usual case: counted on every request
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(
    /\n/g,
    "\\n",
  );
}

/** `{k="v",…}`, or "" without labels; also the key of a series in its family. */
export function labelText(labels: Labels): string {
  let text = "";
  for (const k in labels) {
    text += `${text ? "," : "{"}${k}="${escapeLabel(labels[k]!)}"`;
  }
  return text ? `${text}}` : "";
}

function number(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/** The lines of one family: HELP and TYPE, then each series (a histogram as buckets, sum and count). */
export function familyText(
  [name, family]: [string, Family],
  buckets: readonly number[],
): string {
  const lines = [
    `# HELP ${name} ${family.help}`,
    `# TYPE ${name} ${family.type}`,
  ];
  for (const series of family.series.values()) {
    if (family.type !== "histogram") {
      lines.push(
        `${name}${labelText(series.labels)} ${number(series.value)}`,
      );
      continue;
    }
    buckets.forEach((le, i) => {
      lines.push(
        `${name}_bucket${labelText({ ...series.labels, le: String(le) })} ${
          series.buckets![i]
        }`,
      );
    });
    lines.push(
      `${name}_bucket${
        labelText({ ...series.labels, le: "+Inf" })
      } ${series.value}`,
    );
    lines.push(
      `${name}_sum${labelText(series.labels)} ${number(series.sum!)}`,
    );
    lines.push(`${name}_count${labelText(series.labels)} ${series.value}`);
  }
  return lines.join("\n");
}

/** The lines of one gauge, read now. */
export function gaugeText([name, gauge]: [string, Gauge]): string {
  return [
    `# HELP ${name} ${gauge.help}`,
    `# TYPE ${name} ${gauge.type}`,
    `${name} ${number(gauge.read())}`,
  ].join("\n");
}

/** The lines of the process metrics: resident memory, heap, external memory and start time. */
export function processText(memory: Memory, started: number): string {
  return [
    "# HELP process_resident_memory_bytes Resident memory size in bytes",
    "# TYPE process_resident_memory_bytes gauge",
    `process_resident_memory_bytes ${memory.rss}`,
    "# HELP process_heap_bytes V8 heap in use, in bytes",
    "# TYPE process_heap_bytes gauge",
    `process_heap_bytes ${memory.heapUsed}`,
    "# HELP process_external_memory_bytes Memory of objects outside the V8 heap (buffers), in bytes",
    "# TYPE process_external_memory_bytes gauge",
    `process_external_memory_bytes ${memory.external}`,
    "# HELP process_start_time_seconds Start time of the process since the Unix epoch in seconds",
    "# TYPE process_start_time_seconds gauge",
    `process_start_time_seconds ${started}`,
  ].join("\n");
}
