/**
 * The store's own WAL checkpoints (`_checkpoint.ts`) on real files: the two phases and what waits for
 * each, the WAL never starting over before the database file is fsynced, the blocking path, failures,
 * close, and a bounded WAL.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openSqliteStore, type SqliteStore } from "./sqlite.ts";
import type { NewAlert } from "../store.ts";
import { alert as newAlert } from "../../../tests/_store_fixtures.ts";
import { until } from "../../../tests/_instances.ts";

/** An alert with a `size`-byte pad, so that its row spans that many bytes of pages. */
const alert = (id: string, size = 10): NewAlert =>
  newAlert(id, { alert: { id, pad: "x".repeat(size) } });

/** Lets pending I/O callbacks and immediates run (group commits flush on setImmediate). */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

/** The size of a file now. */
const size = async (path: string) => (await Deno.stat(path)).size;

/**
 * Fsyncs that log their file ("wal" or "db") in `events` and wait while the test holds a gate for it
 * (`hold`); the others run for real.
 */
function gatedSyncs() {
  const events: string[] = [];
  const gates: {
    wal?: PromiseWithResolvers<void>;
    db?: PromiseWithResolvers<void>;
  } = {};
  const sync = (what: "wal" | "db") => (file: Deno.FsFile) => {
    events.push(what);
    return gates[what]?.promise ?? file.syncData();
  };
  return {
    events,
    syncWal: sync("wal"),
    syncDb: sync("db"),
    /** Holds the next fsyncs of `what` until `release`. */
    hold(what: "wal" | "db") {
      gates[what] = Promise.withResolvers<void>();
    },
    /** Lets the fsyncs of `what` held end, and the next ones run at once. */
    release(what: "wal" | "db") {
      gates[what]?.resolve();
      delete gates[what];
    },
    /** Waits until `count` fsyncs have started. */
    started(count: number) {
      return until(
        () => events.length >= count,
        () => `fsync ${count} (${events})`,
        10_000,
      );
    },
  };
}

/** A store on `path` checkpointing after `checkpointEvery` commits at once, its fsyncs gated. */
function gatedStore(path: string, checkpointEvery: number) {
  const syncs = gatedSyncs();
  const store = openSqliteStore(path, {
    checkpointEvery,
    checkpointMs: 0,
    syncWal: syncs.syncWal,
    syncDb: syncs.syncDb,
  });
  return { store, syncs };
}

/** The rows `sql` reads from the database file at `path` (the store closed), read-only. */
function fileRows(path: string, sql: string): Record<string, unknown>[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return db.prepare(sql).all();
  } finally {
    db.close();
  }
}

/** `promise`, or a failure naming `what` after 10 s (a write that should not wait, but does). */
async function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out: ${what}`)), 10_000);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits until `store` has made `count` checkpoints (their fsyncs are real; the copy runs on a thread). */
function checkpointed(store: SqliteStore, count: number): Promise<void> {
  return until(() => store.checkpoints >= count, `checkpoint ${count}`, 10_000);
}

/** A write of `other` to a row of `store`'s database succeeds (true) or finds the write lock held. */
function otherWrites(other: DatabaseSync, value: string): boolean {
  try {
    other.prepare("UPDATE alerts SET last_error = ? WHERE id = 'a1'").run(
      value,
    );
    return true;
  } catch (err) {
    assert.match(String(err), /database is locked/);
    return false;
  }
}

Deno.test("a checkpoint copies while writes go on, then holds them only for a second phase; the WAL then starts over", async () => {
  const dir = await Deno.makeTempDir({ prefix: "blitz_ckpt_" });
  const path = `${dir}/blitz.db`;
  const { store, syncs } = gatedStore(path, 3);
  const other = new DatabaseSync(path);
  other.exec("PRAGMA busy_timeout = 0");
  try {
    await store.insertAlerts([alert("a1", 30_000)]); // commit 1 (durable: one WAL fsync)
    await store.updateAlert("a1", { last_error: "one" }); // commit 2 (bookkeeping: none)
    assert.deepEqual(syncs.events, ["wal"]);
    const dbBefore = await size(path);
    syncs.hold("wal");
    syncs.hold("db");
    await store.updateAlert("a1", { last_error: "two" }); // commit 3 starts the checkpoint
    await syncs.started(2);
    assert.equal(
      await size(path),
      dbBefore,
      "nothing is copied before the WAL is on disk",
    );
    syncs.release("wal");
    await syncs.started(3);
    assert.deepEqual(
      syncs.events,
      ["wal", "wal", "db"],
      "phase 1: WAL fsync, copy, db fsync",
    );
    assert.ok(
      await size(path) > dbBefore + 100_000,
      "the WAL was copied into the database file",
    );

    // Phase 1 holds its database fsync: every frame of the WAL is copied, yet writes go on and append
    // to it (a writer starting the WAL over now could lose what the copy put in the database file).
    const walBefore = await size(`${path}-wal`);
    await within(
      store.updateAlert("a1", { last_error: "three" }),
      "a write during phase 1",
    );
    assert.equal(
      otherWrites(other, "other"),
      true,
      "another connection writes too",
    );
    assert.ok(
      await size(`${path}-wal`) > walBefore,
      "the WAL grew: it did not start over",
    );
    assert.equal(store.checkpoints, 0, "not over yet");

    // Phase 2 holds the write lock while it copies what phase 1 left.
    const db1 = syncs.events.length;
    syncs.release("db");
    syncs.hold("db");
    await syncs.started(db1 + 2);
    assert.deepEqual(
      syncs.events.slice(db1),
      ["wal", "db"],
      "phase 2: WAL fsync, copy, db fsync",
    );
    let later = false;
    const waiting = store.updateAlert("a1", { last_error: "four" }).then(() =>
      later = true
    );
    await settle();
    assert.equal(later, false, "writes wait for the second phase");
    assert.equal(
      otherWrites(other, "x"),
      false,
      "no other connection writes during it",
    );
    assert.equal(
      (await store.getAlert("a1"))?.last_error,
      "other",
      "reads go on",
    );
    assert.equal(await store.ping(), true);
    syncs.release("db");
    await waiting;
    await checkpointed(store, 1);
    assert.equal(store.checkpoints, 1, "two phases, one checkpoint");
    assert.equal((await store.getAlert("a1"))?.last_error, "four");
    // The WAL started over: it holds the one commit made since (the ~30 KB row spans a few overflow
    // pages), not the five before it.
    const { log } = other.prepare("PRAGMA wal_checkpoint(PASSIVE)").get() as {
      log: number;
    };
    assert.ok(log > 0 && log <= 8, `WAL frames after the restart: ${log}`);
  } finally {
    syncs.release("wal");
    syncs.release("db");
    other.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a checkpoint whose guard cannot protect (the WAL already copied by another connection) holds writes throughout", async () => {
  const dir = await Deno.makeTempDir({ prefix: "blitz_ckpt_blocking_" });
  const path = `${dir}/blitz.db`;
  const syncs = gatedSyncs();
  const other = { db: undefined as DatabaseSync | undefined, copy: false };
  const store = openSqliteStore(path, {
    checkpointEvery: 3,
    checkpointMs: 0,
    // The durable commit's fsync starts right after its commit, before the checkpoint does: another
    // connection copies the whole WAL in that instant, so a reader begun then gets read-lock slot 0.
    syncWal: (file) => {
      if (other.copy) {
        other.copy = false;
        other.db!.prepare("PRAGMA wal_checkpoint(PASSIVE)").get();
      }
      return syncs.syncWal(file);
    },
    syncDb: syncs.syncDb,
  });
  other.db = new DatabaseSync(path);
  other.db.exec("PRAGMA busy_timeout = 0");
  try {
    await store.insertAlerts([alert("a1", 30_000)]);
    await store.updateAlert("a1", { last_error: "one" });
    syncs.hold("db");
    other.copy = true;
    await store.insertAlerts([alert("a2")]); // commit 3 starts the checkpoint
    await syncs.started(4); // two durable commits, the checkpoint's WAL fsync and its db fsync
    let later = false;
    const waiting = store.updateAlert("a1", { last_error: "two" }).then(() =>
      later = true
    );
    await settle();
    assert.equal(later, false, "writes wait for the whole checkpoint");
    assert.equal(
      otherWrites(other.db, "x"),
      false,
      "so does every other writer",
    );
    syncs.release("db");
    await waiting;
    await checkpointed(store, 1);
    assert.equal(store.checkpoints, 1);
    assert.deepEqual(syncs.events, ["wal", "wal", "wal", "db"], "one phase");
  } finally {
    syncs.release("db");
    other.db.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

for (const phase of [1, 2]) {
  Deno.test(`a failed database fsync in phase ${phase} of a checkpoint breaks the store and keeps the write lock`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "blitz_ckpt_eio_" });
    const path = `${dir}/blitz.db`;
    const gate = Promise.withResolvers<void>();
    let calls = 0;
    const store = openSqliteStore(path, {
      checkpointEvery: 2,
      checkpointMs: 0,
      syncDb: async (file) => {
        if (++calls < phase) {
          // A commit during phase 1 leaves phase 2 something to copy.
          await store.updateAlert("a1", { last_error: "during phase 1" });
          return file.syncData();
        }
        await gate.promise;
        throw new Error("EIO: input/output error");
      },
    });
    try {
      await store.insertAlerts([alert("a1")]);
      await store.updateAlert("a1", { last_error: "one" }); // starts the checkpoint
      await until(() => calls === phase, `database fsync ${phase}`, 10_000);
      const write = store.updateAlert("a1", { last_error: "two" });
      if (phase === 1) await within(write, "a write during phase 1"); // writes go on
      await settle();
      gate.resolve();
      if (phase === 2) {
        await assert.rejects(
          write,
          /fsync of .*blitz\.db failed \(EIO: input\/output error\)/,
        );
      }
      await until(
        () => store.lastError !== undefined,
        "the store broken",
        10_000,
      );
      await assert.rejects(
        store.insertAlerts([alert("e2")]),
        /fsync .* failed/,
      );
      assert.equal(await store.ping(), false);
      assert.equal(store.checkpoints, 0);
      // No other process may start the WAL over while it is the only good copy.
      const other = new DatabaseSync(path);
      try {
        other.exec("PRAGMA busy_timeout = 0");
        assert.equal(otherWrites(other, "x"), false);
      } finally {
        other.close();
      }
    } finally {
      gate.resolve();
      await store.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("close waits for the first phase of a checkpoint, and leaves every write in the database file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "blitz_ckpt_close_" });
  const path = `${dir}/blitz.db`;
  const { store, syncs } = gatedStore(path, 2);
  try {
    await store.insertAlerts([alert("a1")]);
    syncs.hold("db");
    await store.updateAlert("a1", { last_error: "one" }); // starts the checkpoint
    await syncs.started(3);
    await within(store.insertAlerts([alert("a2")]), "a write during phase 1"); // writes go on
    let closed = false;
    const closing = store.close().then(() => closed = true);
    await settle();
    assert.equal(closed, false, "close waits for the database fsync");
    syncs.release("db");
    await closing;
    await assert.rejects(Deno.stat(`${path}-wal`), Deno.errors.NotFound);
    const rows = fileRows(
      path,
      "SELECT id, last_error FROM alerts ORDER BY id",
    );
    assert.deepEqual(rows.map((r) => [r.id, r.last_error]), [["a1", "one"], [
      "a2",
      null,
    ]]);
  } finally {
    syncs.release("db");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a second phase due while another connection holds the write lock is skipped at once; the next checkpoint makes it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "blitz_ckpt_busy_" });
  const path = `${dir}/blitz.db`;
  const { store, syncs } = gatedStore(path, 2);
  const other = new DatabaseSync(path);
  other.exec("PRAGMA busy_timeout = 0");
  try {
    await store.insertAlerts([alert("a1", 30_000)]);
    syncs.hold("db");
    await store.updateAlert("a1", { last_error: "one" }); // starts the checkpoint
    await syncs.started(3);
    await within(
      store.updateAlert("a1", { last_error: "two" }), // left for phase 2
      "a write during phase 1",
    );
    other.exec("BEGIN IMMEDIATE");
    // The other connection is on this thread: waiting for it would block for the whole busy_timeout
    // (5 s) and then fail anyway.
    const grabbed = performance.now();
    syncs.release("db");
    await checkpointed(store, 1);
    const attemptMs = performance.now() - grabbed;
    assert.ok(
      attemptMs < 4_000,
      `the lock attempt did not wait for busy_timeout (${attemptMs} ms)`,
    );
    assert.equal(syncs.events.length, 3, "no second phase");
    other.exec("UPDATE alerts SET last_error = 'other' WHERE id = 'a1'");
    other.exec("COMMIT");
    // "two" and "three" since the last checkpoint began: due again.
    await store.updateAlert("a1", { last_error: "three" });
    await checkpointed(store, 2);
    assert.deepEqual(
      syncs.events.slice(3),
      ["wal", "db"],
      "phase 1 copied everything (no commit during it): no phase 2",
    );
    await store.updateAlert("a1", { last_error: "four" });
    const { log } = other.prepare("PRAGMA wal_checkpoint(PASSIVE)").get() as {
      log: number;
    };
    assert.ok(log > 0 && log <= 8, `WAL frames after the restart: ${log}`);
    assert.equal((await store.getAlert("a1"))?.last_error, "four");
  } finally {
    if (other.isTransaction) other.exec("ROLLBACK");
    syncs.release("db");
    other.close();
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
    assert.equal(fileRows(path, "SELECT count(*) AS n FROM alerts")[0]?.n, 640);
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
    await checkpointed(store, 1);
    assert.equal(store.checkpoints, 1);
    for (let i = 2; i < 33; i++) await store.insertAlerts([alert(`t${i}`)]);
    await settle();
    assert.equal(store.checkpoints, 1, "31 commits within the minute: not yet");
    await store.insertAlerts([alert("t33")]);
    await checkpointed(store, 2);
    assert.equal(store.checkpoints, 2, "32 commits: due whatever the time");
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
