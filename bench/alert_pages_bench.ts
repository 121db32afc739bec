/**
 * The grouped `/alerts` query under a storm (`deno run -A bench/alert_pages_bench.ts [--postgres]`):
 * a SQLite store (or a throwaway PostgreSQL with `--postgres`) holding a 10,000-alert storm of one
 * fingerprint, 10,000 more over 10 fingerprints, and 2,000 mailed alerts without a fingerprint, each
 * with a 10 KB stored email; then `listAlertGroups` for the first page, with a search, with a
 * time filter, with a state filter (`/alerts?state=`), and a storm's first page of alerts, each the
 * median of 20 runs. Printed as
 * measurements, not targets.
 *
 * @module
 */
import { openSqliteStore } from "../core/store/sqlite/sqlite.ts";
import type { Store, StormInput } from "../core/store/store.ts";

const T0 = Date.parse("2030-01-01T00:00:00Z");
const policy = { realertMs: 3_600_000, digest: false, ackQuietMs: 86_400_000 };

async function fill(store: Store): Promise<void> {
  const storm = async (prefix: string, count: number, fingerprints: number) => {
    const batch = 500;
    for (let start = 0; start < count; start += batch) {
      const ids = Array.from(
        { length: Math.min(batch, count - start) },
        (_, i) => `${prefix}${start + i}`,
      );
      await store.insertAlerts(ids.map((id, i) => ({
        id,
        detector: "ids",
        alert: {
          src_ip: `192.0.2.${(start + i) % fingerprints}`,
          n: start + i,
        },
        received_at: new Date(T0 + (start + i) * 100).toISOString(),
        status: "processing" as const,
      })));
      for (const [i, id] of ids.entries()) {
        const fp = (start + i) % fingerprints;
        const input: StormInput = {
          alertId: id,
          detector: "ids",
          fingerprint: `${prefix}-fp-${fp}`,
          definition: "def",
          paths: ["src_ip"],
          values: [`192.0.2.${fp}`],
          now: new Date(T0 + (start + i) * 100),
          policy,
        };
        if ((await store.storm.decide(input)).action === "notify") {
          await store.updateAlert(id, {
            status: "delivered",
            subject: `IDS ${fp}`,
          });
        }
      }
    }
  };
  await storm("s", 10_000, 1);
  await storm("t", 10_000, 10);
  const html = "<p>" + "x".repeat(10_000) + "</p>";
  for (let start = 0; start < 2_000; start += 500) {
    await store.insertAlerts(Array.from({ length: 500 }, (_, i) => ({
      id: `p${start + i}`,
      detector: "web",
      alert: { host: `web-${start + i}` },
      received_at: new Date(T0 + (start + i) * 500).toISOString(),
      status: "delivered" as const,
    })));
    for (let i = 0; i < 500; i++) {
      await store.updateAlert(`p${start + i}`, {
        subject: `WAF web-${start + i}`,
        message: {
          from: "a@x",
          to: ["b@x"],
          cc: [],
          subject: "s",
          html,
          text: html,
          message_id: `<p${start + i}@x>`,
        },
      });
    }
  }
}

async function median(fn: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[10]!;
}

async function measure(name: string, store: Store): Promise<void> {
  await fill(store);
  const rows: [string, () => Promise<unknown[]>][] = [
    ["first page of groups", () => store.listAlertGroups()],
    ["search ?q=192.0.2.3", () => store.listAlertGroups({ text: "192.0.2.3" })],
    ["since the last 10 min", () =>
      store.listAlertGroups({
        after: new Date(T0 + 1_000_000 - 600_000).toISOString(),
      })],
    [
      "status=suppressed, severity=high",
      () => store.listAlertGroups({ status: "suppressed", severity: "high" }),
    ],
    [
      "state=suppressed (every group's state decided)",
      () =>
        store.listAlertGroups({
          state: {
            is: "suppressed",
            now: new Date(T0 + 1_000_000).toISOString(),
            ackQuietMs: {},
            defaultAckQuietMs: 86_400_000,
          },
        }),
    ],
    [
      "a storm's first 50 alerts",
      () => store.listAlerts({ fingerprint: "s-fp-0", limit: 50 }),
    ],
  ];
  for (const [what, fn] of rows) {
    const count = (await fn()).length;
    console.log(
      `${name}: ${what}: ${(await median(fn)).toFixed(1)} ms (${count} rows)`,
    );
  }
}

if (Deno.args.includes("--postgres")) {
  const { startPostgres } = await import("../tests/_postgres.ts");
  const { openPostgresStore } = await import(
    "../core/store/postgres/postgres.ts"
  );
  const pg = (await startPostgres())!;
  const store = await openPostgresStore(await pg.freshDatabase());
  try {
    await measure("PostgreSQL", store);
  } finally {
    await store.close();
    await pg.stop();
  }
} else {
  const dir = await Deno.makeTempDir();
  const store = openSqliteStore(`${dir}/blitz.db`);
  try {
    await measure("SQLite", store);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}
