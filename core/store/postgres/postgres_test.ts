/**
 * The PostgreSQL store on a throwaway server (one per file, `tests/_postgres.ts`): the shared store
 * contract (`tests/_store_contract.ts`) on a fresh database per case, then what only a shared store
 * does (migrations under a lock, claims across instances, lease renewal, LISTEN/NOTIFY, retention as
 * a singleton, URL handling).
 */
import assert from "node:assert/strict";
import {
  openPostgresStore,
  POSTGRES_SCHEMA_VERSION,
  type PostgresStore,
  redactUrl,
} from "./postgres.ts";
import { connectionOf } from "./_url.ts";
import { isDeferredWriteFault } from "./_guard.ts";
import {
  hasPostgres,
  type Postgres,
  startPostgres,
} from "../../../tests/_postgres.ts";
import {
  alert,
  manualClock,
  STORE_CONTRACT,
} from "../../../tests/_store_contract.ts";
import { stormCases } from "../../../tests/_storm_contract.ts";

/** Runs `fn` with the server, stopping it afterwards whatever happens. */
async function withServer(
  fn: (server: Postgres) => Promise<void>,
): Promise<void> {
  const server = await startPostgres();
  if (!server) return; // not installed (and not required)
  try {
    await fn(server);
  } finally {
    await server.stop();
  }
}

/** Opens stores on one fresh database; closes them all afterwards. */
async function withStores(
  server: Postgres,
  fn: (
    open: (options?: { owner?: string }) => Promise<PostgresStore>,
    ctx: { url: string; time: ReturnType<typeof manualClock> },
  ) => Promise<void>,
): Promise<void> {
  const url = await server.freshDatabase();
  const time = manualClock();
  const stores: PostgresStore[] = [];
  const open = async (options: { owner?: string } = {}) => {
    const store = await openPostgresStore(url, {
      clock: time.clock,
      ...options,
    });
    stores.push(store);
    return store;
  };
  try {
    await fn(open, { url, time });
  } finally {
    for (const store of stores) await store.close();
  }
}

Deno.test({
  name: "PostgreSQL store: the store contract, and what a shared store adds",
  ignore: !hasPostgres(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: (t) =>
    withServer(async (server) => {
      for (const { name, fn } of STORE_CONTRACT) {
        await t.step(name, () =>
          withStores(server, async (open, { time }) => {
            const store = await open();
            await fn(store, { time, openOther: () => open() });
          }));
      }

      for (const { title, fn } of stormCases()) {
        await t.step(`storm: ${title}`, () =>
          withStores(server, async (open) => {
            await fn(await open());
          }));
      }

      await t.step(
        "openPostgresStore() migrates once when instances start together",
        () =>
          withStores(server, async (open) => {
            const stores = await Promise.all([open(), open(), open()]);
            const [row] = await stores[0]!.sql
              .unsafe(
                "SELECT count(*) AS n, max(version) AS v FROM schema_migrations",
              );
            assert.equal(Number(row!.n), POSTGRES_SCHEMA_VERSION);
            assert.equal(Number(row!.v), POSTGRES_SCHEMA_VERSION);
          }),
      );

      await t.step(
        "openPostgresStore() refuses a database from a newer version",
        () =>
          withStores(server, async (open, { url }) => {
            const first = await open();
            await first.sql.unsafe(
              `INSERT INTO schema_migrations (version, applied_at) VALUES (${
                POSTGRES_SCHEMA_VERSION + 1
              }, 'x')`,
            );
            await assert.rejects(
              openPostgresStore(url),
              /schema version \d+ is newer than this Blitz supports/,
            );
          }),
      );

      await t.step(
        "openPostgresStore() names the redacted URL when the server is not there",
        async () => {
          await assert.rejects(
            openPostgresStore("postgres://blitz:s3cret@127.0.0.1:1/none", {
              connectTimeout: 2,
            }),
            (err: Error) => {
              assert.match(
                err.message,
                /postgres:\/\/blitz:\*\*\*@127\.0\.0\.1:1\/none/,
              );
              assert.doesNotMatch(err.message, /s3cret/);
              return true;
            },
          );
        },
      );

      await t.step(
        "storm.ack() and unack() wait for a decision in progress on the fingerprint, so its write never undoes them",
        () =>
          withStores(server, async (open) => {
            const [store, decider, watcher] = await Promise.all([
              open(),
              open(),
              open(),
            ]);
            await store.storm.decide({
              alertId: "w1",
              detector: "ids",
              fingerprint: "fp-ack",
              definition: "def",
              paths: ["src_ip"],
              values: ["192.0.2.1"],
              now: new Date("2030-01-01T10:00:00Z"),
              policy: {
                realertMs: 600_000,
                digest: false,
                ackQuietMs: 3_600_000,
              },
            });
            const waitingOnLock = async () => {
              for (let i = 0; i < 3000; i++) {
                const [row] = await watcher.sql.unsafe(
                  "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'",
                );
                if (Number(row!.n) > 0) return;
                await new Promise((resolve) => setTimeout(resolve, 10));
              }
              throw new Error("no session waited for the fingerprint's lock");
            };
            /** A decision on the fingerprint, in progress while `change` runs: it read, then writes. */
            const duringDecision = async (
              change: () => Promise<boolean>,
            ): Promise<boolean> => {
              let changed!: Promise<boolean>;
              await decider.sql.begin(async (tx) => {
                await tx.unsafe(
                  "SELECT pg_advisory_xact_lock(hashtextextended($1, 11))",
                  ["storm:fp-ack"],
                );
                const [read] = await tx.unsafe(
                  "SELECT acked_by, acked_at FROM storm_windows WHERE fingerprint = $1",
                  ["fp-ack"],
                );
                changed = change();
                // The change either waits for this decision, or is done before its write.
                await Promise.race([changed, waitingOnLock()]);
                await tx.unsafe(
                  "UPDATE storm_windows SET acked_by = $1, acked_at = $2 WHERE fingerprint = $3",
                  [read!.acked_by, read!.acked_at, "fp-ack"],
                );
              });
              return await changed;
            };
            const at = new Date("2030-01-01T10:01:00Z");
            assert.equal(
              await duringDecision(() =>
                store.storm.ack("fp-ack", { actor: "bob", at })
              ),
              true,
            );
            assert.equal((await store.storm.window("fp-ack"))?.acked_by, "bob");
            assert.equal(
              await duringDecision(() => store.storm.unack("fp-ack")),
              true,
            );
            assert.equal(
              (await store.storm.window("fp-ack"))?.acked_by,
              undefined,
            );
          }),
      );

      await t.step(
        "claimBatch() from three instances at once hands each alert to one of them",
        () =>
          withStores(server, async (open) => {
            const stores = await Promise.all(
              ["i1", "i2", "i3"].map((owner) => open({ owner })),
            );
            await stores[0]!.insertAlerts(
              Array.from({ length: 300 }, (_, i) => alert(`a${i}`)),
            );
            const claimed: string[] = [];
            await Promise.all(stores.map(async (store) => {
              for (;;) {
                const batch = await store.claimBatch({
                  leaseMs: 60_000,
                  limit: 7,
                });
                if (batch.length === 0) return;
                claimed.push(...batch.map((a) => a.id));
              }
            }));
            assert.equal(claimed.length, 300);
            assert.equal(new Set(claimed).size, 300);
            const owners = await stores[0]!.sql
              .unsafe("SELECT DISTINCT lease_owner FROM alerts");
            assert.ok(owners.length >= 1);
          }),
      );

      await t.step(
        "an owner renews its leases while it works; a dead owner's lapse and are requeued",
        () =>
          withStores(server, async (open, { time }) => {
            const live = await openPostgresStore(
              await server.freshDatabase(),
              { owner: "live" },
            ).catch((err) => {
              throw err;
            });
            await live.close(); // only to prove a fresh database opens; the test runs on `open`'s
            const alive = await open({ owner: "alive" });
            const dying = await open({ owner: "dying" });
            await alive.insertAlerts([alert("a1"), alert("a2")]);
            // Claimed at the stores' clock (00:00:00.000) for 600 ms; the renewal runs every 200 ms
            // of real time and extends a lease from the clock's time then.
            assert.equal(
              (await alive.claimBatch({ leaseMs: 600, limit: 1 })).length,
              1,
            );
            assert.equal(
              (await dying.claimBatch({ leaseMs: 600, limit: 1 })).length,
              1,
            );
            await dying.close(); // dies: renews no more
            time.set("2030-01-01T00:00:00.500Z");
            const leaseOf = async (owner: string) =>
              (await alive.sql.unsafe(
                "SELECT lease_until FROM alerts WHERE lease_owner = $1",
                [owner],
              ))[0]?.lease_until;
            // Waits for the live owner's renewal (an event, bounded), not for a lease to lapse in
            // real time: a loaded machine may delay a renewal by more than a short lease.
            const deadline = Date.now() + 20_000;
            while (
              (await leaseOf("alive")) !== "2030-01-01T00:00:01.100Z" &&
              Date.now() < deadline
            ) {
              await new Promise((resolve) => setTimeout(resolve, 50));
            }
            assert.equal(
              await leaseOf("alive"),
              "2030-01-01T00:00:01.100Z",
              "the live owner renewed its lease",
            );
            assert.equal(
              await leaseOf("dying"),
              "2030-01-01T00:00:00.600Z",
              "the dead owner renewed nothing",
            );
            const requeued = await alive.requeueStale({
              now: new Date("2030-01-01T00:00:00.700Z"),
            });
            assert.equal(requeued, 1, "the dead instance's lease lapsed");
            const rows = await alive.sql.unsafe(
              "SELECT id, status, lease_owner FROM alerts ORDER BY id",
            );
            const byOwner = rows.map((r) =>
              `${r.status}:${r.lease_owner ?? "-"}`
            ).sort();
            assert.deepEqual(byOwner, ["processing:alive", "queued:-"]);
          }),
      );

      await t.step(
        "an insert on one instance wakes the others (LISTEN/NOTIFY), at commit",
        () =>
          withStores(server, async (open) => {
            const [a, b] = await Promise.all([open(), open()]);
            const woken = new Promise<number>((resolve) => {
              const off = b.onQueued((count) => {
                off();
                resolve(count);
              });
            });
            await a.insertAlertsIdempotent([alert("a1"), alert("a2")]);
            let timer: ReturnType<typeof setTimeout> | undefined;
            const count = await Promise.race([
              woken,
              new Promise<number>((_, reject) =>
                timer = setTimeout(
                  () => reject(new Error("no NOTIFY within 10 s")),
                  10_000,
                )
              ),
            ]).finally(() => clearTimeout(timer));
            assert.equal(count, 2);
          }),
      );

      await t.step(
        "an alert's JSON reads back exactly as written (big integers, key order)",
        () =>
          withStores(server, async (open) => {
            const store = await open();
            const body = {
              z: 1,
              a: { big: 12345678901234567890n.toString() },
              n: 0.1,
            };
            await store.insertAlerts([alert("a1", { alert: body })]);
            const [row] = await store.sql.unsafe(
              "SELECT alert_json FROM alerts",
            );
            assert.equal(row!.alert_json, JSON.stringify(body));
            assert.deepEqual((await store.getAlert("a1"))?.alert, body);
          }),
      );

      await t.step(
        "purge() runs on one instance at a time (advisory lock)",
        () =>
          withStores(server, async (open) => {
            const [a, b] = await Promise.all([open(), open()]);
            await a.insertAlerts(
              Array.from({ length: 40 }, (_, i) =>
                alert(`a${i}`, {
                  status: "delivered",
                  received_at: "2020-01-01T00:00:00.000Z",
                })),
            );
            const cutoff = new Date("2021-01-01T00:00:00.000Z");
            const options = {
              alertsBefore: cutoff,
              emailsBefore: cutoff,
              limit: 40,
            };
            const results = await Promise.all([
              a.purge(options),
              b.purge(options),
            ]);
            assert.equal(results[0]!.alerts + results[1]!.alerts, 40);
            assert.ok(
              results.some((r) => r.alerts === 0),
              "one of them found the lock taken or nothing left",
            );
            const [row] = await a.sql.unsafe(
              "SELECT count(*) AS n FROM alerts WHERE alert_json = '{}'",
            );
            assert.equal(Number(row!.n), 40);
          }),
      );
    }),
});

Deno.test("redactUrl() hides the password; connectionOf() honours sslmode and sslrootcert", () => {
  assert.equal(
    redactUrl(
      "postgres://blitz:s3cret@db.example.test:5432/blitz?sslmode=require",
    ),
    "postgres://blitz:***@db.example.test:5432/blitz?sslmode=require",
  );
  assert.equal(
    redactUrl("postgres://db.example.test/blitz"),
    "postgres://db.example.test/blitz",
  );
  const plain = connectionOf(
    "postgres://u:p@h:5432/d?sslmode=disable&application_name=x",
  );
  assert.equal(plain.ssl, false);
  assert.equal(plain.url, "postgres://u:p@h:5432/d?application_name=x");
  assert.equal(connectionOf("postgres://u@h/d").ssl, "prefer");
  assert.equal(connectionOf("postgres://u@h/d?sslmode=require").ssl, "require");
  const readFile = (path: string) => `PEM of ${path}`;
  const full = connectionOf(
    "postgres://u@h/d?sslmode=verify-full&sslrootcert=/etc/ca.pem",
    { readFile },
  );
  assert.deepEqual(full.ssl, {
    rejectUnauthorized: true,
    ca: "PEM of /etc/ca.pem",
  });
  assert.equal(full.url, "postgres://u@h/d");
  const ca = connectionOf(
    "postgres://u@h/d?sslmode=require&sslrootcert=/etc/ca.pem",
    { readFile },
  );
  assert.equal((ca.ssl as { ca: string }).ca, "PEM of /etc/ca.pem");
  assert.equal(
    typeof (ca.ssl as { checkServerIdentity: unknown }).checkServerIdentity,
    "function",
  );
  assert.deepEqual(connectionOf("postgres://u@h/d?sslrootcert=system").ssl, {
    rejectUnauthorized: true,
  });
  assert.throws(
    () => connectionOf("postgres://u@h/d?sslmode=sometimes"),
    /Invalid sslmode "sometimes".*known: disable/,
  );
  assert.throws(
    () => connectionOf("mysql://u:pw@h/d"),
    (err: Error) => !err.message.includes("pw"),
  );
});

Deno.test("isDeferredWriteFault() matches only the client's deferred write on a dropped socket", () => {
  const fault = new TypeError(
    "Cannot read properties of null (reading 'write')",
  );
  fault.stack =
    `TypeError: ${fault.message}\n    at Immediate.nextWrite (file:///x/node_modules/.deno/postgres@3.4.9/node_modules/postgres/src/connection.js:255:22)`;
  assert.equal(isDeferredWriteFault(fault), true);
  const elsewhere = new TypeError(fault.message);
  elsewhere.stack =
    `TypeError: ${fault.message}\n    at file:///x/core/pipeline/pipeline.ts:1:1`;
  assert.equal(isDeferredWriteFault(elsewhere), false);
  assert.equal(isDeferredWriteFault(new Error(fault.message)), false);
  // The second form: the deferred write on a socket the server already ended (a rejected promise).
  const ended = new Error("This socket has been ended by the other party");
  ended.stack =
    `Error: ${ended.message}\n    at Socket._writeAfterFIN [as write] (ext:deno_node/net.ts:1:10175)\n    at Immediate.nextWrite (file:///x/node_modules/.deno/postgres@3.4.9/node_modules/postgres/src/connection.js:255:22)`;
  assert.equal(isDeferredWriteFault(ended), true);
  const endedElsewhere = new Error(ended.message);
  endedElsewhere.stack =
    `Error: ${ended.message}\n    at Socket._writeAfterFIN [as write] (ext:deno_node/net.ts:1:10175)\n    at file:///x/core/delivery/smtp_pool.ts:1:1`;
  assert.equal(isDeferredWriteFault(endedElsewhere), false);
  assert.equal(isDeferredWriteFault(new TypeError(ended.message)), false);
});
