/**
 * A damaged store is refused at start (issue 16, low): `serve` runs `PRAGMA quick_check` and exits with
 * a message naming the file and how to restore a backup, instead of serving from it as healthy.
 */
import assert from "node:assert/strict";
import { writeProject } from "./_config.ts";
import { startServe } from "./_serve.ts";
import { openSqliteStore } from "../core/store/sqlite/sqlite.ts";

Deno.test("serve refuses a store SQLite reports as malformed, naming the file and the restore", async () => {
  const project = await writeProject({
    global: {
      listen: "127.0.0.1:0",
      ingest_tokens: ["integrity-test-token-0123456789"],
    },
  });
  const path = `${project.dataDir}/blitz.db`;
  try {
    // A store with some pages of alerts, checkpointed into the file and closed.
    const store = openSqliteStore(path);
    await store.insertAlerts(
      Array.from({ length: 60 }, (_, i) => ({
        id: `alert-${i}`,
        detector: "device_1",
        alert: { n: i, padding: "x".repeat(2_000) },
      })),
    );
    await store.close();
    const file = await Deno.open(path, { read: true, write: true });
    const size = (await file.stat()).size;
    assert.ok(size > 8192 * 6, `the store has pages to damage (${size} bytes)`);
    // Garbage over the middle of the file: b-tree pages SQLite only reads when it walks them.
    await file.seek(8192 * 4, Deno.SeekMode.Start);
    await file.write(new Uint8Array(8192).fill(0xa5));
    file.close();

    await assert.rejects(
      startServe({
        config: project.config,
        env: project.env,
        dirs: [project.dir],
        writeDirs: [project.dataDir],
      }),
      (err: Error) => {
        assert.match(err.message, /exited before listening/);
        assert.ok(err.message.includes(`The store "`), err.message);
        assert.ok(err.message.includes("blitz.db"), err.message);
        assert.match(err.message, /is damaged \(SQLite: /);
        assert.match(err.message, /copy your latest backup/);
        assert.doesNotMatch(err.message, /^\s+at /m, "no stack trace");
        return true;
      },
    );
  } finally {
    await project.cleanup();
  }
});
