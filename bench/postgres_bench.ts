/**
 * Blitz on PostgreSQL (issue 13), on a throwaway server from Debian's package (`tests/_postgres.ts`,
 * `fsync=on`, `synchronous_commit=on`):
 *
 * - durable ingest with 1 and 2 `serve` instances (processing paused, `workers: 0`: every 202 is the
 *   committed insert and nothing else), as ratios to a reference handler measured in the same run on
 *   the same server (`_pg_reference.ts`: Hono + one INSERT + COMMIT); wrk, 32 connections in all;
 * - end to end, alerts/s with 1 and 2 instances (default workers, lean SMTP sink), first POST to
 *   last mail;
 * - storm control, 1 instance: alerts over 10 fingerprints, alerts/s until all settled
 *   (`--storm-only` runs only this).
 *
 * Two cores shared by everything (PostgreSQL, the instances, wrk, the sink): a second instance adds
 * no CPU, so the 2-instance numbers show the cost of sharing, not a scale-out gain. Skipped when
 * PostgreSQL or wrk is absent. Run: `deno run -A bench/postgres_bench.ts [--seconds 3] [--alerts 3000]`.
 *
 * @module
 */
import { hasWrk, wrk } from "./_wrk.ts";
import { info, numberFlag } from "./_report.ts";
import { BENCH_ALERT, benchProject, TOKEN } from "./_project.ts";
import { startSink } from "./_sink.ts";
import { drained, postMany } from "./_load.ts";
import {
  hasPostgres,
  type Postgres,
  startPostgres,
} from "../tests/_postgres.ts";
import { type ServeProcess, startServe } from "../tests/_serve.ts";
import { startReference } from "./_reference.ts";

const SECONDS = numberFlag("seconds", 3);
const ALERTS = numberFlag("alerts", 3_000);
const CONNECTIONS = 32;
const BODY = JSON.stringify(BENCH_ALERT);

const INGEST_1 =
  "ingest on PostgreSQL, 1 instance: Blitz ÷ Hono + INSERT + COMMIT";
const INGEST_2 =
  "ingest on PostgreSQL, 2 instances: Blitz ÷ Hono + INSERT + COMMIT";
const E2E_1 = "end to end on PostgreSQL, 1 instance: alerts/s";
const E2E_2 = "end to end on PostgreSQL, 2 instances: alerts/s";
const STORM_1 = "storm on PostgreSQL, 1 instance: alerts/s";

/**
 * `count` Blitz instances on one fresh database, each with its own data dir; `global` adds keys, `storm`
 * the bench detector's storm block.
 */
async function instances(
  pg: Postgres,
  count: number,
  global: Record<string, unknown>,
  options: { storm?: Record<string, unknown> } = {},
): Promise<{ servers: ServeProcess[]; stop(): Promise<void> }> {
  const url = await pg.freshDatabase();
  const project = await benchProject({
    store: { backend: "postgres", url: "${env:BLITZ_DATABASE_URL}" },
    data_dir: "${env:BLITZ_DATA_DIR}",
    ...global,
  }, options);
  const servers: ServeProcess[] = [];
  for (let i = 0; i < count; i++) {
    const dataDir = `${project.dataDir}/instance${i}`;
    await Deno.mkdir(dataDir, { recursive: true });
    servers.push(
      await startServe({
        config: project.config,
        env: {
          ...project.env,
          BLITZ_DATABASE_URL: url,
          BLITZ_DATA_DIR: dataDir,
        },
        dirs: [project.dir],
        writeDirs: [dataDir],
        timeoutMs: 60_000,
      }),
    );
  }
  return {
    servers,
    async stop() {
      for (const server of servers) await server.stop();
      await project.cleanup();
    },
  };
}

/** req/s of wrk against `urls` at once, the connections split between them (after a warm-up). */
async function load(
  urls: string[],
  headers: Record<string, string>,
): Promise<number> {
  const run = (seconds: number) =>
    Promise.all(urls.map((url) =>
      wrk({
        url,
        body: BODY,
        headers,
        connections: CONNECTIONS / urls.length,
        seconds,
      })
    ));
  await run(1);
  const results = await run(SECONDS);
  const errors = results.reduce((n, r) => n + r.errors + r.socketErrors, 0);
  if (errors > 0) info("errors", `${errors} non-2xx or socket errors`);
  return results.reduce((sum, r) => sum + r.rps, 0);
}

async function reference(pg: Postgres): Promise<number> {
  const handler = await startReference("./_pg_reference.ts", [
    await pg.freshDatabase(),
  ]);
  try {
    return await load([`${handler.url}/ingest`], {
      "Content-Type": "application/json",
    });
  } finally {
    await handler.stop();
  }
}

async function ingest(pg: Postgres, count: number): Promise<number> {
  const { servers, stop } = await instances(pg, count, { workers: 0 });
  try {
    return await load(servers.map((s) => `${s.url}/ingest/bench`), {
      Authorization: `Bearer ${TOKEN}`,
      "Content-Type": "application/json",
    });
  } finally {
    await stop();
  }
}

async function endToEnd(pg: Postgres, count: number): Promise<number> {
  const sink = await startSink();
  const { servers, stop } = await instances(pg, count, {
    smtp: `smtp://127.0.0.1:${sink.port}?ignore_tls=1`,
  });
  try {
    const start = performance.now();
    await Promise.all(servers.map((server, i) =>
      post(
        server,
        BODY,
        Math.floor(ALERTS / count) + (i < ALERTS % count ? 1 : 0),
        CONNECTIONS / count,
      )
    ));
    const deadline = Date.now() + 300_000;
    while (sink.arrivals.size < ALERTS && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (sink.arrivals.size < ALERTS) {
      throw new Error(
        `only ${sink.arrivals.size} of ${ALERTS} mailed in 300 s`,
      );
    }
    const last = Math.max(...sink.arrivals.values());
    return ALERTS / ((last - start) / 1000);
  } finally {
    await stop();
    await sink.close();
  }
}

/**
 * Storm control on PostgreSQL, 1 instance: ALERTS alerts over 10 fingerprints (storm on, fingerprint
 * `ip_src_addr`), alerts/s from the first POST until the backlog is empty (suppressed ones included).
 */
async function storm(pg: Postgres): Promise<number> {
  const sink = await startSink();
  const { servers: [server], stop } = await instances(pg, 1, {
    smtp: `smtp://127.0.0.1:${sink.port}?ignore_tls=1`,
  }, { storm: { fingerprint: ["ip_src_addr"] } });
  try {
    const total = Math.floor(ALERTS / 10) * 10;
    const start = performance.now();
    await Promise.all(Array.from({ length: 10 }, (_, i) =>
      post(
        server!,
        JSON.stringify({ ...BENCH_ALERT, ip_src_addr: `198.51.100.${i}` }),
        total / 10,
        CONNECTIONS / 8,
      )));
    await drained(server!.url, 300_000);
    return total / ((performance.now() - start) / 1000);
  } finally {
    await stop();
    await sink.close();
  }
}

/** Posts `total` copies of `body` to `server` over `connections`; any answer but 202 throws. */
function post(
  server: ServeProcess,
  body: string,
  total: number,
  connections: number,
): Promise<void> {
  return postMany({
    url: server.url,
    path: "/ingest/bench",
    headers: {
      Authorization: `Bearer ${TOKEN}`,
      "Content-Type": "application/json",
    },
    body,
    total,
    connections,
    onResponse(status, text) {
      if (status !== 202) throw new Error(`${status}: ${text}`);
    },
  });
}

async function main(): Promise<void> {
  const missing = !hasPostgres()
    ? "PostgreSQL is not installed: apt-get install postgresql"
    : !(await hasWrk())
    ? "wrk is not installed: apt-get install wrk"
    : undefined;
  if (missing) {
    for (const name of [INGEST_1, INGEST_2, E2E_1, E2E_2, STORM_1]) {
      info(name, `skipped (${missing})`);
    }
    return;
  }
  const pg = await startPostgres();
  if (!pg) return;
  try {
    info(
      "setup",
      `PostgreSQL (Debian, fsync=on, synchronous_commit=on) on loopback; wrk -t1 -c${CONNECTIONS} in all; ${SECONDS} s per measurement; 2 cores shared by everything`,
    );
    if (Deno.args.includes("--storm-only")) {
      info(STORM_1, `${(await storm(pg)).toFixed(0)} alerts/s`);
      return;
    }
    const ref = await reference(pg);
    const one = await ingest(pg, 1);
    const two = await ingest(pg, 2);
    info("reference Hono + INSERT + COMMIT", `${ref.toFixed(0)} req/s`);
    info(
      INGEST_1,
      `${(one / ref).toFixed(2)} (Blitz ${one.toFixed(0)} req/s, reference ${
        ref.toFixed(0)
      } req/s)`,
    );
    info(
      INGEST_2,
      `${(two / ref).toFixed(2)} (Blitz ${
        two.toFixed(0)
      } req/s over 2 instances, reference ${ref.toFixed(0)} req/s)`,
    );
    const e1 = await endToEnd(pg, 1);
    const e2 = await endToEnd(pg, 2);
    info(
      E2E_1,
      `${e1.toFixed(0)} alerts/s (${ALERTS} alerts, first POST to last mail)`,
    );
    info(
      E2E_2,
      `${e2.toFixed(0)} alerts/s (${ALERTS} alerts over 2 instances)`,
    );
    info(
      STORM_1,
      `${
        (await storm(pg)).toFixed(0)
      } alerts/s (${ALERTS} alerts over 10 fingerprints, until all settled)`,
    );
  } finally {
    await pg.stop();
  }
}

if (import.meta.main) await main();
