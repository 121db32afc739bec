/** The store's own WAL checkpoints: their order, what waits for them, failure, and a bounded WAL. */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openSqliteStore } from "./sqlite.ts";
import type { NewAlert } from "../store.ts";

const alert = (id: string, size = 10): NewAlert => ({
  id,
  detector: "d",
  alert: { id, pad: "x".repeat(size) },
});

/** Lets pending I/O callbacks and immediates run (group commits flush on setImmediate). */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

/** Waits (up to 10 s) until `done()` (the copy runs on the checkpoint thread, which starts on first use). */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 1_000 && !done(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Waits (up to 10 s) until `store` has made `count` checkpoints: their fsyncs are real. */
async function checkpointed(
  store: { checkpoints: number },
  count: number,
): Promise<number> {
  for (let i = 0; i < 1_000 && store.checkpoints < count; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return store.checkpoints;
}

Deno.test("a checkpoint runs off the event loop in order: write lock, WAL fsync, copy, database fsync, unlock", async () => {
  const dir = await Deno.makeTempDir({ prefix: "blitz_ckpt_" });
  const path = `${dir}/blitz.db`;
  const events: string[] = [];
  let walGate: PromiseWithResolvers<void> | undefined;
  const dbGate = Promise.withResolvers<void>();
  const store = openSqliteStore(path, {
    checkpointEvery: 3,
    checkpointMs: 0,
    syncWal: () => {
      events.push("wal");
      return walGate?.promise ?? Promise.resolve();
    },
    syncDb: () => {
      events.push("db");
      return dbGate.promise;
    },
  });
  const other = new DatabaseSync(path);
  other.exec("PRAGMA busy_timeout = 0");
  try {
    await store.insertAlerts([alert("a1", 30_000)]); // commit 1 (durable: one WAL fsync)
    await store.updateAlert("a1", { last_error: "one" }); // commit 2
    assert.deepEqual(events, ["wal"]);
    const sizeBefore = (await Deno.stat(path)).size;
    walGate = Promise.withResolvers<void>();
    await store.updateAlert("a1", { last_error: "two" }); // commit 3 starts the checkpoint
    await settle();
    assert.deepEqual(events, ["wal", "wal"], "the WAL is fsynced first");
    let later = false;
    const waiting = store.updateAlert("a1", { last_error: "three" }).then(
      () => later = true,
    );
    await settle();
    assert.equal(later, false, "writes wait for the checkpoint");
    assert.equal(
      (await Deno.stat(path)).size,
      sizeBefore,
      "nothing is copied before the WAL is on disk",
    );
    assert.throws(
      () =>
        other.exec("UPDATE alerts SET last_error = 'other' WHERE id = 'a1'"),
      /database is locked/,
      "no other connection may write (and start the WAL over) during a checkpoint",
    );
    assert.equal(
      (await store.getAlert("a1"))?.last_error,
      "two",
      "reads go on",
    );
    assert.equal(await store.ping(), true);
    walGate.resolve();
    await until(() => events.length > 2);
    assert.deepEqual(events, ["wal", "wal", "db"]);
    assert.ok(
      (await Deno.stat(path)).size > sizeBefore + 30_000,
      "the WAL was copied into the database file",
    );
    assert.equal(later, false, "writes still wait for the database fsync");
    assert.throws(() => other.exec("UPDATE alerts SET last_error = 'x'"));
    dbGate.resolve();
    await waiting;
    assert.equal(store.checkpoints, 1);
    assert.equal((await store.getAlert("a1"))?.last_error, "three");
    // The WAL started over: it holds the one commit made since (the ~30 KB row spans a few overflow
    // pages), not the four before it.
    const { log } = other.prepare("PRAGMA wal_checkpoint(PASSIVE)").get() as {
      log: number;
    };
    assert.ok(log > 0 && log <= 8, `WAL frames after the restart: ${log}`);
  } finally {
    walGate?.resolve();
    dbGate.resolve();
    other.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a failed database fsync in a checkpoint fails the writes waiting and every later one; ping() says so", async () => {
  const dir = await Deno.makeTempDir({ prefix: "blitz_ckpt_eio_" });
  const path = `${dir}/blitz.db`;
  const gate = Promise.withResolvers<void>();
  const store = openSqliteStore(path, {
    checkpointEvery: 2,
    checkpointMs: 0,
    syncDb: async () => {
      await gate.promise;
      throw new Error("EIO: input/output error");
    },
  });
  try {
    await store.insertAlerts([alert("e1")]);
    await store.updateAlert("e1", { last_error: "one" }); // starts the checkpoint
    const waiting = store.updateAlert("e1", { last_error: "two" });
    await settle();
    gate.resolve();
    await assert.rejects(
      waiting,
      /fsync of .*blitz\.db failed \(EIO: input\/output error\)/,
    );
    await assert.rejects(store.insertAlerts([alert("e2")]), /fsync .* failed/);
    assert.equal(await store.ping(), false);
    assert.equal(store.checkpoints, 0);
    // The write lock stays held: no other process may start the WAL over while it is the only copy.
    const other = new DatabaseSync(path);
    try {
      other.exec("PRAGMA busy_timeout = 0");
      assert.throws(
        () => other.exec("UPDATE alerts SET last_error = 'x'"),
        /database is locked/,
      );
    } finally {
      other.close();
    }
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the WAL stays bounded over many commits, and close leaves every write in the database file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "blitz_ckpt_many_" });
  const path = `${dir}/blitz.db`;
  const store = openSqliteStore(path, { checkpointMs: 0 });
  let peak = 0;
  try {
    // 640 commits of a ~20 KB row: ~10 pages of 8 KiB each, ~50 MB of WAL without checkpoints.
    for (let i = 0; i < 640; i++) {
      await store.insertAlerts([alert(`m${i}`, 20_000)]);
      if (i % 64 === 63) {
        peak = Math.max(peak, (await Deno.stat(`${path}-wal`)).size);
      }
    }
    assert.ok(store.checkpoints >= 9, `checkpoints: ${store.checkpoints}`);
    assert.ok(peak < 8 * 1024 * 1024, `peak WAL size: ${peak} bytes`);
  } finally {
    await store.close();
  }
  try {
    await assert.rejects(Deno.stat(`${path}-wal`), Deno.errors.NotFound);
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      const { n } = db.prepare("SELECT count(*) AS n FROM alerts").get() as {
        n: number;
      };
      assert.equal(n, 640);
    } finally {
      db.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("under a steady load checkpoints wait for checkpointMs, unless 16 × checkpointEvery commits pile up", async () => {
  const dir = await Deno.makeTempDir({ prefix: "blitz_ckpt_time_" });
  const store = openSqliteStore(`${dir}/blitz.db`, {
    checkpointEvery: 2,
    checkpointMs: 60_000,
  });
  try {
    // The first checkpoint is due at once (none yet); the next only after 32 more commits.
    await store.insertAlerts([alert("t0")]);
    await store.insertAlerts([alert("t1")]);
    assert.equal(await checkpointed(store, 1), 1);
    for (let i = 2; i < 33; i++) await store.insertAlerts([alert(`t${i}`)]);
    await settle();
    assert.equal(store.checkpoints, 1, "31 commits within the minute: not yet");
    await store.insertAlerts([alert("t33")]);
    assert.equal(
      await checkpointed(store, 2),
      2,
      "32 commits: due whatever the time",
    );
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a checkpoint due while another connection holds the write lock is skipped at once, and writes go on", async () => {
  const dir = await Deno.makeTempDir({ prefix: "blitz_ckpt_busy_" });
  const path = `${dir}/blitz.db`;
  const other = { db: undefined as DatabaseSync | undefined, grab: false };
  // The lock attempt runs synchronously right after syncWal is called (before its fsync ends): the
  // span from the grab to the next microtask is the attempt, without the fsync or the event loop.
  let attemptMs = -1;
  const store = openSqliteStore(path, {
    checkpointEvery: 2,
    checkpointMs: 0,
    // Runs right after the commit and before the checkpoint's lock attempt: another writer gets in.
    syncWal: (file) => {
      if (other.grab) {
        other.grab = false;
        other.db!.exec("BEGIN IMMEDIATE");
        const grabbed = performance.now();
        queueMicrotask(() => attemptMs = performance.now() - grabbed);
      }
      return file.syncData();
    },
  });
  other.db = new DatabaseSync(path);
  try {
    await store.insertAlerts([alert("b1")]);
    other.grab = true;
    await store.insertAlerts([alert("b2")]); // the checkpoint is due here; the lock is taken
    // Waiting would block the thread for the whole busy_timeout (5 s: the other connection is on
    // this thread and cannot let go meanwhile).
    assert.ok(attemptMs >= 0, "the lock attempt ran");
    assert.ok(
      attemptMs < 4_000,
      `the lock attempt did not wait for busy_timeout (${attemptMs} ms)`,
    );
    assert.equal(store.checkpoints, 0, "skipped");
    other.db.exec("ROLLBACK");
    await store.insertAlerts([alert("b3")]);
    await store.insertAlerts([alert("b4")]); // due again: runs
    assert.equal(await checkpointed(store, 1), 1);
    await store.updateAlert("b1", { last_error: "after" });
    assert.equal((await store.getAlert("b1"))?.last_error, "after");
  } finally {
    if (other.db.isTransaction) other.db.exec("ROLLBACK");
    other.db.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an exiting close leaves a small WAL for the next process, and checkpoints a large one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "blitz_exiting_" });
  const path = `${dir}/blitz.db`;
  try {
    // A process that records one alert and exits, as `ingest` does.
    const script = `${dir}/exiting.ts`;
    await Deno.writeTextFile(
      script,
      `import { openSqliteStore } from ${
        JSON.stringify(new URL("./sqlite.ts", import.meta.url).href)
      };
const store = openSqliteStore(${JSON.stringify(path)});
await store.insertAlerts([{ id: "x1", detector: "d", alert: { a: 1 } }]);
await store.updateAlert("x1", { status: "delivered" }, { durable: true });
await store.close({ exiting: true });
Deno.exit(0);
`,
    );
    const child = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script],
    }).output();
    assert.equal(child.code, 0, new TextDecoder().decode(child.stderr));
    const kept = (await Deno.stat(`${path}-wal`)).size;
    assert.ok(kept > 0 && kept < 1024 * 1024, `WAL left: ${kept} bytes`);
    // The next process (here: connection) finds everything through the WAL.
    const second = openSqliteStore(path);
    assert.equal((await second.getAlert("x1"))?.status, "delivered");
    for (let i = 0; i < 12; i++) {
      await second.insertAlerts([alert(`y${i}`, 100_000)]);
    }
    assert.ok((await Deno.stat(`${path}-wal`)).size >= 1024 * 1024);
    await second.close({ exiting: true }); // too large to leave: checkpointed and deleted
    await assert.rejects(Deno.stat(`${path}-wal`), Deno.errors.NotFound);
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      const { n } = db.prepare("SELECT count(*) AS n FROM alerts").get() as {
        n: number;
      };
      assert.equal(n, 13);
    } finally {
      db.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("updateAlert(…, { durable: true }) resolves only after the WAL fsync", async () => {
  const dir = await Deno.makeTempDir({ prefix: "blitz_durable_update_" });
  let gate: PromiseWithResolvers<void> | undefined;
  const store = openSqliteStore(`${dir}/blitz.db`, {
    syncWal: (file) => gate ? gate.promise : file.syncData(),
  });
  try {
    await store.insertAlerts([alert("d1")]);
    gate = Promise.withResolvers<void>();
    let bookkept = false;
    await store.updateAlert("d1", { last_error: "a" }).then(() =>
      bookkept = true
    );
    assert.equal(bookkept, true, "bookkeeping resolves at commit");
    let durable = false;
    const waiting = store.updateAlert("d1", { status: "delivered" }, {
      durable: true,
    }).then(() => durable = true);
    await settle();
    assert.equal(durable, false, "waits for the fsync");
    gate.resolve();
    await waiting;
    assert.equal(durable, true);
  } finally {
    gate?.resolve();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("after an exiting close the store refuses writes and ping() is false, its WAL fsynced whole", async () => {
  const dir = await Deno.makeTempDir({ prefix: "blitz_exiting_closed_" });
  const synced: string[] = [];
  const store = openSqliteStore(`${dir}/blitz.db`, {
    syncWal: (file) => {
      synced.push("wal");
      return file.syncData();
    },
  });
  try {
    await store.insertAlerts([alert("c1")]); // durable: one fsync
    await store.updateAlert("c1", { last_error: "bookkeeping" }); // none
    assert.deepEqual(synced, ["wal"]);
    await store.close({ exiting: true });
    assert.deepEqual(synced, ["wal", "wal"], "the WAL left behind is fsynced");
    await assert.rejects(store.insertAlerts([alert("c2")]), /store is closed/);
    assert.equal(await store.ping(), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const memory = openSqliteStore(":memory:");
  await memory.insertAlerts([alert("m1")]);
  await memory.close({ exiting: true }); // nothing to leave: closed as usual
  await assert.rejects(memory.getAlert("m1"));
});
