/**
 * The SQLite store: the shared store contract (`tests/_store_contract.ts`) against a file, then what
 * only SQLite does (migrations of the file, group commit, fsync, WAL, page size).
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  openSqliteStore,
  SQLITE_SCHEMA_VERSION,
  type SqliteStore,
} from "./sqlite.ts";
import {
  alert,
  manualClock,
  STORE_CONTRACT,
} from "../../../tests/_store_contract.ts";
import { stormInput } from "../../../tests/_storm_contract.ts";

/** Runs `fn` with a store on a file in a fresh temp dir, then closes it and removes the dir. */
async function withStore(
  fn: (
    store: SqliteStore,
    ctx: {
      path: string;
      time: ReturnType<typeof manualClock>;
      openOther(): Promise<SqliteStore>;
    },
  ) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "blitz_store_" });
  const path = `${dir}/data/blitz.db`;
  const time = manualClock();
  const store = openSqliteStore(path, { clock: time.clock });
  const others: SqliteStore[] = [];
  const openOther = () => {
    const other = openSqliteStore(path, { clock: time.clock });
    others.push(other);
    return Promise.resolve(other);
  };
  try {
    await fn(store, { path, time, openOther });
  } finally {
    for (const other of others) await other.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

for (const { name, fn } of STORE_CONTRACT) {
  Deno.test(name, () => withStore(fn));
}

Deno.test("openSqliteStore() creates the folder and migrates a fresh database", async () => {
  await withStore(async (store, { path }) => {
    assert.equal(await store.ping(), true);
    const db = new DatabaseSync(path);
    try {
      const versions = db.prepare(
        "SELECT version, applied_at FROM schema_migrations ORDER BY version",
      ).all();
      assert.deepEqual(
        versions.map((row) => row.version),
        [...Array(SQLITE_SCHEMA_VERSION).keys()].map((i) => i + 1),
      );
      assert.equal(versions[0]?.applied_at, "2030-01-01T00:00:00.000Z");
      const tables = db.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
      ).all();
      assert.deepEqual(tables.map((row) => row.name), [
        "action_runs",
        "alerts",
        "channel_deliveries",
        "redeliveries",
        "schema_migrations",
        "silences",
        "storm_breaker",
        "storm_groups",
        "storm_timers",
        "storm_windows",
      ]);
      assert.equal(
        db.prepare("PRAGMA journal_mode").get()?.journal_mode,
        "wal",
      );
    } finally {
      db.close();
    }
  });
});

Deno.test("openSqliteStore() reopening a migrated database changes nothing", async () => {
  await withStore(async (store, { path, time }) => {
    await store.insertAlerts([alert("a1")]);
    await store.close();
    time.set("2031-01-01T00:00:00.000Z");
    const reopened = openSqliteStore(path, { clock: time.clock });
    try {
      assert.equal((await reopened.getAlert("a1"))?.id, "a1");
    } finally {
      await reopened.close();
    }
    const db = new DatabaseSync(path);
    try {
      const rows = db.prepare(
        "SELECT version, applied_at FROM schema_migrations",
      ).all();
      assert.equal(rows.length, SQLITE_SCHEMA_VERSION);
      assert.ok(
        rows.every((row) => row.applied_at === "2030-01-01T00:00:00.000Z"),
      );
    } finally {
      db.close();
    }
  });
});

Deno.test("openSqliteStore() refuses a database from a newer version", async () => {
  await withStore(async (store, { path }) => {
    await store.close();
    const future = SQLITE_SCHEMA_VERSION + 1;
    const db = new DatabaseSync(path);
    db.prepare(
      "INSERT INTO schema_migrations (version, applied_at) VALUES (?, 'later')",
    ).run(future);
    db.close();
    assert.throws(() => openSqliteStore(path), (err: Error) => {
      assert.match(
        err.message,
        new RegExp(
          `"${path}".*version ${future}.*\\(${SQLITE_SCHEMA_VERSION}\\)`,
        ),
      );
      return true;
    });
  });
});

Deno.test("consumeNonce() is single-use across two threads racing on one file", async () => {
  await withStore(async (store, { path }) => {
    await store.insertAlerts([alert("a1")]);
    const nonces = Array.from({ length: 200 }, (_, i) => `n${i}`);
    const worker = `${path}.worker.js`;
    await Deno.writeTextFile(
      worker,
      `import { openSqliteStore } from ${
        JSON.stringify(new URL("./sqlite.ts", import.meta.url).href)
      };
      self.onmessage = async ({ data }) => {
        const store = openSqliteStore(data.path);
        const won = [];
        for (const nonce of data.nonces) {
          const { created } = await store.consumeNonce({ nonce, alert_id: "a1", button: "b", actor: data.actor,
            actor_source: "claimed", started_at: new Date().toISOString(), status: "running", steps: [] });
          if (created) won.push(nonce);
        }
        await store.close();
        self.postMessage(won);
      };`,
    );
    const workers = [0, 1].map(() =>
      new Worker(new URL(`file://${worker}`).href, { type: "module" })
    );
    try {
      const won = await Promise.all(
        workers.map((w, i) =>
          new Promise<string[]>((resolve, reject) => {
            w.onmessage = (event) => resolve(event.data);
            w.onerror = (event) => reject(new Error(event.message));
            w.postMessage({ path, nonces, actor: `worker${i}` });
          })
        ),
      );
      assert.deepEqual([...won[0]!, ...won[1]!].sort(), [...nonces].sort());
      assert.equal((await store.listActionRuns("a1")).length, 200);
    } finally {
      workers.forEach((w) => w.terminate());
    }
  });
});

Deno.test("ping() reports false instead of throwing once the store is closed", async () => {
  const store = openSqliteStore(":memory:");
  assert.equal(await store.ping(), true);
  await store.close();
  assert.equal(await store.ping(), false);
});

Deno.test("only promises to others fsync: inserts commit FULL, claims and outcomes NORMAL", async () => {
  await withStore(async (store) => {
    await store.insertAlerts([alert("a1")]);
    assert.deepEqual(store.commits, { full: 1, normal: 0 });
    const [claimed] = await store.claimBatch({ leaseMs: 60_000, limit: 1 });
    assert.equal(claimed?.id, "a1");
    await store.updateAlert("a1", { status: "delivered", attempts: 1 });
    assert.deepEqual(store.commits, { full: 1, normal: 2 });
    // A Jira key is a promise to the analyst who clicked: durable again.
    await store.updateAlert("a1", { jira_keys: ["SOC-1"] });
    assert.deepEqual(store.commits, { full: 2, normal: 2 });
    // A batch mixing both kinds commits once, FULL.
    await Promise.all([
      store.insertAlerts([alert("a2")]),
      store.updateAlert("a1", { last_error: "x" }),
    ]);
    assert.deepEqual(store.commits, { full: 3, normal: 2 });
  });
});

Deno.test("a NORMAL commit survives kill -9 of the process that made it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "blitz_store_kill_" });
  const path = `${dir}/blitz.db`;
  const script = `${dir}/writer.ts`;
  await Deno.writeTextFile(
    script,
    `import { openSqliteStore } from ${
      JSON.stringify(new URL("./sqlite.ts", import.meta.url).href)
    };
const store = openSqliteStore(${JSON.stringify(path)});
await store.insertAlerts([{ id: "k1", detector: "d", alert: { a: 1 } }]);
await store.claimBatch({ leaseMs: 60000, limit: 1 });
await store.updateAlert("k1", { status: "delivered", attempts: 1, message_id: "<k1@x>" });
console.log(JSON.stringify(store.commits));
setInterval(() => {}, 1000); // stays up until killed, the store never closed
`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    const { value } = await reader.read();
    assert.deepEqual(JSON.parse(value!), { full: 1, normal: 2 });
    child.kill("SIGKILL");
    await child.status;
    await reader.cancel();
    const store = openSqliteStore(path);
    try {
      const record = await store.getAlert("k1");
      assert.equal(record?.status, "delivered");
      assert.equal(record?.message_id, "<k1@x>");
    } finally {
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a durable write resolves after the WAL fsync, off the event loop; bookkeeping does not wait; writes during an fsync share the next commit and fsync", async () => {
  const dir = await Deno.makeTempDir({ prefix: "blitz_store_sync_" });
  const gates: PromiseWithResolvers<void>[] = [];
  const synced: string[] = [];
  const store = openSqliteStore(`${dir}/blitz.db`, {
    syncWal: (file) => {
      synced.push(file.statSync().isFile ? "wal" : "?");
      const gate = Promise.withResolvers<void>();
      gates.push(gate);
      return gate.promise;
    },
  });
  try {
    let first = false;
    const inserted = store.insertAlerts([alert("s1")]).then(() => first = true);
    // The commit runs on setImmediate, which a 20 ms timer overtakes when the thread stalls 20 ms
    // (a loaded host): wait for the fsync to start (bounded), then give an early resolve time.
    for (let i = 0; i < 1_000 && gates.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(gates.length, 1, "one fsync started");
    assert.equal(first, false, "not resolved before the fsync completes");
    // Committed already: a claim sees it and resolves without any fsync, the fsync still running.
    const claimed = await store.claimBatch({ leaseMs: 60_000, limit: 1 });
    assert.equal(claimed[0]?.id, "s1");
    // Durable writes made while the fsync runs wait for it, then commit together with one fsync; a
    // bookkeeping write queued behind them waits with them (order kept).
    const commits = store.commits!.full;
    let later = 0;
    const more = [
      store.insertAlerts([alert("s2")]).then(() => later++),
      store.insertAlerts([alert("s3")]).then(() => later++),
    ];
    const claimedLater = store.claimBatch({ leaseMs: 60_000, limit: 2 });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(gates.length, 1, "no second fsync while the first runs");
    assert.equal(store.commits!.full, commits, "not committed yet");
    gates[0]!.resolve();
    await inserted;
    assert.equal(first, true);
    assert.deepEqual(
      (await claimedLater).map((r) => r.id).sort(),
      ["s2", "s3"],
    );
    assert.equal(gates.length, 2, "one fsync for both waiting writes");
    assert.equal(store.commits!.full, commits + 1, "in one commit");
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(later, 0, "not resolved before their fsync completes");
    gates[1]!.resolve();
    await Promise.all(more);
    assert.equal(later, 2);
    assert.deepEqual(synced, ["wal", "wal"]);
  } finally {
    for (const gate of gates) gate.resolve();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("storm control's decision on an alert is bookkeeping: it resolves while an fsync runs; an ack and a silence wait for theirs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "blitz_store_storm_sync_" });
  const gates: PromiseWithResolvers<void>[] = [];
  const store = openSqliteStore(`${dir}/blitz.db`, {
    syncWal: () => {
      const gate = Promise.withResolvers<void>();
      gates.push(gate);
      return gate.promise;
    },
  });
  const at = new Date("2026-12-07T12:00:00.000Z");
  const decision = (alertId: string) =>
    store.storm.decide(stormInput(alertId, at.getTime()));
  /** Waits (bounded) until `n` fsyncs have started. */
  const started = async (n: number) => {
    for (let i = 0; i < 1_000 && gates.length < n; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(gates.length, n, `${n} fsyncs started`);
  };
  try {
    const inserted = store.insertAlerts([alert("d1"), alert("d2")]);
    await started(1);
    // The insert's fsync still runs: decisions commit and resolve without it, and start none.
    const first = await decision("d1");
    const second = await decision("d2");
    assert.equal(first.action, "notify");
    assert.equal(second.action, "suppress");
    assert.equal((await store.getAlert("d2"))?.status, "suppressed");
    assert.equal(gates.length, 1, "no fsync of their own");
    gates[0]!.resolve();
    await inserted;
    // An analyst's ack is a promise to a person: it resolves only after its fsync.
    let acked = false;
    const ack = store.storm.ack("fp-1", { actor: "ana", at }).then((ok) => {
      acked = ok;
    });
    await started(2);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(acked, false, "the ack waits for its fsync");
    gates[1]!.resolve();
    await ack;
    assert.equal(acked, true);
    let silenced = false;
    const silence = store.storm.addSilence({
      id: "s1",
      detector: "ids",
      fingerprint: "fp-1",
      starts_at: at.toISOString(),
      ends_at: new Date(at.getTime() + 3_600_000).toISOString(),
      created_by: "ana",
      comment: "maintenance",
    }, at).then(() => silenced = true);
    await started(3);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(silenced, false, "the silence waits for its fsync");
    gates[2]!.resolve();
    await silence;
  } finally {
    for (const gate of gates) gate.resolve();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a failed fsync fails its writes and every later write; ping() says so", async () => {
  const dir = await Deno.makeTempDir({ prefix: "blitz_store_eio_" });
  const store = openSqliteStore(`${dir}/blitz.db`, {
    syncWal: () => Promise.reject(new Error("EIO: input/output error")),
  });
  try {
    await assert.rejects(
      store.insertAlerts([alert("e1")]),
      /fsync of .*blitz\.db-wal failed \(EIO: input\/output error\)/,
    );
    await assert.rejects(
      store.updateAlert("e1", { status: "delivered" }),
      /fsync .* failed/,
    );
    assert.equal(await store.ping(), false);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a new store file uses 8 KiB pages; an existing file keeps its page size", async () => {
  const dir = await Deno.makeTempDir({ prefix: "blitz_store_page_" });
  try {
    const fresh = openSqliteStore(`${dir}/new.db`);
    await fresh.close();
    const read = (path: string) => {
      const db = new DatabaseSync(path);
      try {
        return Number(db.prepare("PRAGMA page_size").get()?.page_size);
      } finally {
        db.close();
      }
    };
    assert.equal(read(`${dir}/new.db`), 8192);
    const old = new DatabaseSync(`${dir}/old.db`);
    old.exec(
      "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE t (x)",
    );
    old.close();
    const reopened = openSqliteStore(`${dir}/old.db`);
    await reopened.insertAlerts([alert("p1")]);
    await reopened.close();
    assert.equal(read(`${dir}/old.db`), 4096);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
