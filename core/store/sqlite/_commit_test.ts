/** The group commit's durable writes, and what a close leaves behind (checkpoints: `_checkpoint_test.ts`). */
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
