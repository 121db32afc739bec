/**
 * `deno task backup <file>` as a child process while the store is open and written by another
 * connection (its recent alerts only in the WAL): the copy is restored as a data_dir's blitz.db and read
 * back through the store. On PostgreSQL it points to pg_dump.
 */
import assert from "node:assert/strict";
import { writeProject } from "./_config.ts";
import { runTask, shown } from "./_task.ts";
import { openSqliteStore } from "../core/store/sqlite/sqlite.ts";

Deno.test("backup copies the live store consistently, and the copy restores and reads", async () => {
  const project = await writeProject();
  const store = openSqliteStore(`${project.dataDir}/blitz.db`);
  const restored = await Deno.makeTempDir({ prefix: "blitz_restore_" });
  try {
    const ids = Array.from({ length: 50 }, (_, i) => `alert-${i}`);
    await store.insertAlerts(
      ids.map((id) => ({ id, detector: "d", alert: { n: id } })),
    );
    await store.updateAlert("alert-7", {
      status: "delivered",
      subject: "Seven",
    });
    await store.consumeNonce({
      nonce: "n-1",
      alert_id: "alert-7",
      button: "Block",
      actor: "ana",
      actor_source: "claimed",
      started_at: new Date().toISOString(),
      status: "ok",
      steps: [],
    });
    // The store stays open (as serve keeps it): the rows above are still in its WAL.
    const wal = await Deno.stat(`${project.dataDir}/blitz.db-wal`);
    assert.ok(wal.size > 0, "the recent writes are in the WAL");

    const run = await runTask("backup", [
      "backups/blitz.db",
      "--config",
      project.config,
    ], {
      cwd: project.dir,
      env: project.env,
    });
    assert.equal(run.code, 0, shown(run));
    const target = `${project.dir}/backups/blitz.db`;
    const size = (await Deno.stat(target)).size;
    assert.equal(
      run.stdout,
      `backup: ${target}: 50 alerts, 1 action runs, ${size} bytes\n`,
    );
    await assert.rejects(
      Deno.stat(`${target}-wal`),
      Deno.errors.NotFound,
      "self-contained",
    );
    await assert.rejects(Deno.stat(`${target}.partial`), Deno.errors.NotFound);

    // Writes after the copy are not in it.
    await store.insertAlerts([{ id: "after", detector: "d", alert: {} }]);

    await Deno.copyFile(target, `${restored}/blitz.db`);
    const copy = openSqliteStore(`${restored}/blitz.db`);
    try {
      const seven = await copy.getAlert("alert-7");
      assert.equal(seven?.subject, "Seven");
      assert.deepEqual(seven?.alert, { n: "alert-7" });
      assert.equal((await copy.listActionRuns("alert-7"))[0]?.actor, "ana");
      assert.equal((await copy.listAlerts({ limit: 100 })).length, 50);
      assert.equal(await copy.getAlert("after"), undefined);
    } finally {
      await copy.close();
    }

    const again = await runTask("backup", [
      "backups/blitz.db",
      "--config",
      project.config,
    ], {
      cwd: project.dir,
      env: project.env,
    });
    assert.equal(again.code, 2, shown(again));
    assert.match(
      again.stderr,
      /already exists: choose a new file name \(a backup never overwrites\)/,
    );
  } finally {
    await store.close();
    await project.cleanup();
    await Deno.remove(restored, { recursive: true });
  }
});

Deno.test("backup on store.backend postgres says to use pg_dump and writes nothing", async () => {
  const project = await writeProject({
    global: {
      store: {
        backend: "postgres",
        url: "postgres://blitz@127.0.0.1:5432/blitz",
      },
    },
  });
  try {
    const run = await runTask("backup", ["b.db", "--config", project.config], {
      cwd: project.dir,
      env: project.env,
    });
    assert.equal(run.code, 2, shown(run));
    assert.match(
      run.stderr,
      /^error: .*blitz\.yaml: store\.backend: the store is PostgreSQL: back it up with pg_dump, e\.g\. pg_dump --format=custom/,
    );
    await assert.rejects(
      Deno.stat(`${project.dir}/b.db`),
      Deno.errors.NotFound,
    );
  } finally {
    await project.cleanup();
  }
});
