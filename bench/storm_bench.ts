/**
 * Storm control against Prometheus Alertmanager (issue 11): the same storm, 10,000 alerts over 10
 * fingerprints posted in about 10 s, to `blitz serve` with `storm` on (realert 20 s, so the digests
 * come in the run) and to Alertmanager grouping by the same fields, each mailing to its own loopback
 * SMTP sink. Printed side by side: emails (first emails and digests), alerts stored, enrichment calls,
 * p99 ingest latency, and what an analyst can learn from the emails.
 *
 * Targets: Blitz first emails ≤ 10, digests ≤ 10, stored = 10,000, enrichment calls ≤ 10.
 * Alertmanager is skipped with a clear line when it is not installed.
 * Run: `deno run -A bench/storm_bench.ts [--alerts 10000] [--seconds 10]`.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { postMany } from "./_load.ts";
import { type Sink, startSink } from "./_sink.ts";
import { info, numberFlag, quantile, skipped, target } from "./_report.ts";
import {
  ALERTMANAGER,
  hasAlertmanager,
  startAlertmanager,
} from "./_alertmanager.ts";
import { BENCH_ALERT, benchProject, TOKEN } from "./_project.ts";
import { type ServeProcess, startServe } from "../tests/_serve.ts";

const ALERTS = numberFlag("alerts", 10_000);
const SECONDS = numberFlag("seconds", 10);
const FINGERPRINTS = 10;
const HEADERS = {
  "Content-Type": "application/json",
  Authorization: `Bearer ${TOKEN}`,
};

/** The alert of fingerprint `i`, number `n`. */
function stormAlert(i: number, n: number): Record<string, string | number> {
  return { ...BENCH_ALERT, ip_src_addr: `198.51.100.${i}`, n };
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

/** Waits until `ready()` or `ms` passed; true when ready. */
async function until(ready: () => boolean | Promise<boolean>, ms: number) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ready()) return true;
    await sleep(100);
  }
  return false;
}

function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) {
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return sum;
}

/**
 * Posts the storm: each second, ALERTS / SECONDS alerts spread over the fingerprints (one request
 * each, `post(i, n)`), so the storm lasts about SECONDS seconds. Returns the latencies in ms.
 */
async function storm(
  post: (i: number, first: number, count: number) => Promise<number[]>,
): Promise<number[]> {
  const latencies: number[] = [];
  const perSecond = Math.ceil(ALERTS / SECONDS);
  const perFingerprint = Math.ceil(perSecond / FINGERPRINTS);
  let n = 0;
  const started = performance.now();
  for (let s = 0; n < ALERTS; s++) {
    const batch: Promise<number[]>[] = [];
    for (let i = 0; i < FINGERPRINTS && n < ALERTS; i++) {
      const count = Math.min(perFingerprint, ALERTS - n);
      batch.push(post(i, n, count));
      n += count;
    }
    for (const l of await Promise.all(batch)) latencies.push(...l);
    await sleep(started + (s + 1) * 1000 - performance.now());
  }
  return latencies;
}

interface Outcome {
  firsts: number;
  digests: number;
  stored: number | undefined;
  enrichments: number | undefined;
  p99: number;
  seconds: number;
}

async function blitz(sink: Sink): Promise<Outcome> {
  const project = await benchProject({
    smtp: `smtp://127.0.0.1:${sink.port}?ignore_tls=1`,
  }, {
    storm: { fingerprint: ["ip_src_addr", "param2"], realert: "20s" },
  });
  let server: ServeProcess | undefined;
  try {
    server = await startServe({
      config: project.config,
      env: project.env,
      dirs: [project.dir],
      writeDirs: [project.dataDir],
    });
    const url = server.url;
    const started = performance.now();
    const latencies = await storm((i, first, count) => {
      const out: number[] = [];
      return postMany({
        url,
        path: "/ingest/bench",
        headers: HEADERS,
        body: JSON.stringify(stormAlert(i, first)),
        total: count,
        connections: 2,
        onResponse(status, text, sentAt) {
          if (status !== 202) {
            throw new Error(`Ingest answered ${status}: ${text}`);
          }
          out.push(performance.now() - sentAt);
        },
      }).then(() => out);
    });
    const posted = (performance.now() - started) / 1000;
    // Every alert settled, then the digests (windows close 20 s after each first email).
    await until(async () => {
      const health = await (await fetch(`${url}/healthz`)).json();
      return health.backlog === 0;
    }, 120_000);
    const digests = () =>
      [...sink.arrivals.keys()].filter((id) => id.startsWith("<digest."))
        .length;
    await until(() => digests() >= FINGERPRINTS, 60_000);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const db = new DatabaseSync(`${project.dataDir}/blitz.db`, {
      readOnly: true,
    });
    const stored = Number(
      db.prepare("SELECT count(*) AS n FROM alerts").get()?.n,
    );
    db.close();
    return {
      firsts: sink.arrivals.size - digests(),
      digests: digests(),
      stored,
      enrichments: metricSum(metrics, "blitz_enrichment_results_total"),
      p99: quantile([...latencies].sort((a, b) => a - b), 0.99),
      seconds: posted,
    };
  } finally {
    await server?.stop();
    await project.cleanup();
  }
}

/** Alertmanager with an email receiver to `sink`, grouping by the same fields. */
async function alertmanager(sink: Sink): Promise<Outcome> {
  const am = await startAlertmanager({
    config: `global:
  smtp_smarthost: "127.0.0.1:${sink.port}"
  smtp_from: "alertmanager@bench.test"
  smtp_require_tls: false
route:
  receiver: soc
  group_by: [ip_src_addr, param2]
  group_wait: 1s
  group_interval: 20s
  repeat_interval: 4h
receivers:
  - name: soc
    email_configs:
      - to: "soc@bench.test"
        send_resolved: false
`,
  });
  const { url } = am;
  try {
    const started = performance.now();
    const latencies = await storm(async (i, first, count) => {
      // One alert per request, as to Blitz (distinct alerts: `n` is a label).
      const out: number[] = [];
      for (let k = 0; k < count; k += 25) {
        await Promise.all(
          Array.from({ length: Math.min(25, count - k) }, async (_, j) => {
            const alert = stormAlert(i, first + k + j);
            const labels: Record<string, string> = { alertname: "bench" };
            for (const [key, v] of Object.entries(alert)) {
              if (key !== "param3") labels[key] = String(v);
            }
            const sent = performance.now();
            const res = await fetch(`${url}/api/v2/alerts`, {
              method: "POST",
              headers: { "Content-Type": "application/json" },
              body: JSON.stringify([{
                labels,
                annotations: { param3: String(alert.param3) },
              }]),
            });
            await res.body?.cancel();
            out.push(performance.now() - sent);
          }),
        );
      }
      return out;
    });
    const posted = (performance.now() - started) / 1000;
    // First emails after group_wait; the groups that grew send again after group_interval.
    await sleep(25_000);
    return {
      firsts: sink.arrivals.size,
      digests: 0,
      stored: undefined,
      enrichments: undefined,
      p99: quantile([...latencies].sort((a, b) => a - b), 0.99),
      seconds: posted,
    };
  } finally {
    await am.stop();
  }
}

console.log(
  `\n## Storm control: ${ALERTS} alerts over ${FINGERPRINTS} fingerprints in about ${SECONDS} s`,
);
const blitzSink = await startSink();
try {
  const b = await blitz(blitzSink);
  target("storm vs Alertmanager: Blitz first emails", b.firsts, {
    op: "≤",
    value: FINGERPRINTS,
  }, { shown: String(b.firsts) });
  target("storm vs Alertmanager: Blitz digests", b.digests, {
    op: "≤",
    value: FINGERPRINTS,
  }, { shown: String(b.digests) });
  target("storm vs Alertmanager: Blitz alerts stored", b.stored ?? 0, {
    op: "≥",
    value: ALERTS,
  }, { shown: String(b.stored) });
  target(
    "storm vs Alertmanager: Blitz enrichment calls",
    b.enrichments ?? Infinity,
    { op: "≤", value: FINGERPRINTS },
    { shown: String(b.enrichments) },
  );
  let am: Outcome | undefined;
  if (await hasAlertmanager()) {
    const amSink = await startSink();
    try {
      am = await alertmanager(amSink);
    } finally {
      await amSink.close();
    }
  } else {
    skipped(
      "storm vs Alertmanager: Alertmanager side",
      `${ALERTMANAGER} not installed (apt-get install prometheus-alertmanager)`,
    );
  }
  const row = (label: string, bv: string, av: string) =>
    console.log(`  ${label.padEnd(34)} ${bv.padEnd(34)} ${av}`);
  row("", "Blitz (storm control)", "Alertmanager (group_by)");
  row(
    "posted in",
    `${b.seconds.toFixed(1)} s`,
    am ? `${am.seconds.toFixed(1)} s` : "-",
  );
  row(
    "emails",
    `${b.firsts + b.digests} (${b.firsts} first + ${b.digests} digests)`,
    am ? `${am.firsts}` : "-",
  );
  row("alerts stored", String(b.stored), "none (in memory, until resolved)");
  row("enrichment calls", String(b.enrichments), "no enrichment");
  row(
    "p99 ingest latency",
    `${b.p99.toFixed(1)} ms`,
    am ? `${am.p99.toFixed(1)} ms` : "-",
  );
  row(
    "what the emails say",
    "counts, first/last, rate, top values",
    "the alerts' labels; no per-alert counts",
  );
  info(
    "note",
    "Alertmanager keeps no record of the storm: its emails list the group's alerts, and re-send the group as it grows",
  );
} finally {
  await blitzSink.close();
}
