/**
 * `deno task store copy` (the move from one host's SQLite to a shared PostgreSQL), run as a child
 * process with the task's own permissions against a throwaway PostgreSQL: every table copied, the
 * alert JSON digit for digit, a count check at the end, and a second run that copies nothing twice.
 * Also `deno task backup` on a PostgreSQL config, which points to pg_dump, and `deno task replay` on
 * one whose database is away, which says which store (password redacted).
 */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { hasPostgres, startPostgres } from "./_postgres.ts";
import { runTask, shown } from "./_task.ts";
import { openSqliteStore } from "../core/store/sqlite/sqlite.ts";
import { openPostgresStore } from "../core/store/postgres/postgres.ts";
import { parseJson } from "../core/json.ts";
import { writeProject } from "./_config.ts";

Deno.test({
  name: "store copy: SQLite to PostgreSQL, idempotent, with a count check",
  ignore: !hasPostgres(),
  fn: async () => {
    const pg = await startPostgres();
    if (!pg) return;
    const dir = await Deno.makeTempDir({ prefix: "blitz_copy_" });
    try {
      const path = `${dir}/data/blitz.db`;
      const sqlite = openSqliteStore(path);
      const big = parseJson(
        '{"evt":{"time":1685022245478445995},"n":1}',
      ) as Record<string, unknown>;
      await sqlite.insertAlerts(
        Array.from({ length: 1_200 }, (_, i) => ({
          id: `a${String(i).padStart(4, "0")}`,
          detector: i % 2 ? "odd" : "even",
          alert: i === 0 ? big : { n: i },
          received_at: new Date(Date.UTC(2030, 0, 1, 0, 0, 0, i)).toISOString(),
          ...(i % 3 === 0 ? { idempotency_key: `k${i}` } : {}),
        })),
      );
      await sqlite.updateAlert("a0000", {
        status: "delivered",
        subject: "Alert 0",
        to: ["soc@example.test"],
        message_id: "<a0000@blitz>",
      });
      await sqlite.consumeNonce({
        nonce: "n1",
        alert_id: "a0000",
        button: "Block",
        actor: "alice",
        actor_source: "claimed",
        started_at: "2030-01-01T00:01:00.000Z",
        status: "ok",
        steps: [{ name: "block", status: "ok", value: "done" }],
      });
      await sqlite.insertDeliveries([{
        alert_id: "a0000",
        channel: "hook",
        event: "alert",
        type: "webhook",
        payload: { n: 0 },
      }]);
      await sqlite.storm.addSilence({
        id: "s1",
        detector: "odd",
        starts_at: "2030-01-01T00:00:00.000Z",
        ends_at: "2030-01-01T04:00:00.000Z",
        created_by: "bob",
        comment: "maintenance",
      }, new Date("2030-01-01T00:00:00.000Z"));
      const source = await sqlite.getAlert("a0000");
      await sqlite.close();

      const url = await pg.freshDatabase();
      const first = await runTask("store", [
        "copy",
        "--from",
        path,
        "--to",
        url,
      ], {
        cwd: dir,
      });
      assert.equal(first.code, 0, shown(first));
      assert.match(
        first.stdout,
        /^alerts: 1200 in source, 1200 copied, 0 already there, 1200 in destination$/m,
      );
      assert.match(first.stdout, /^action_runs: 1 in source, 1 copied/m);
      assert.match(first.stdout, /^channel_deliveries: 1 in source, 1 copied/m);
      assert.match(first.stdout, /^silences: 1 in source, 1 copied/m);
      assert.match(first.stdout, /^storm_timers: 1 in source, 1 copied/m);
      assert.match(first.stdout, /checked$/m);

      const again = await runTask("store", [
        "copy",
        "--from",
        path,
        "--to",
        url,
      ], {
        cwd: dir,
      });
      assert.equal(again.code, 0, shown(again));
      assert.match(
        again.stdout,
        /^alerts: 1200 in source, 0 copied, 1200 already there, 1200 in destination$/m,
      );

      const store = await openPostgresStore(url);
      try {
        assert.deepEqual(await store.getAlert("a0000"), source);
        assert.equal(
          (await store.sql.unsafe(
            "SELECT alert_json FROM alerts WHERE id = 'a0000'",
          ))[0]!.alert_json,
          '{"evt":{"time":1685022245478445995},"n":1}',
        );
        assert.equal((await store.listActionRuns("a0000"))[0]?.actor, "alice");
        assert.equal(
          (await store.storm.getSilence("s1"))?.comment,
          "maintenance",
        );
        // The copied queue works: the oldest queued alert is claimed first.
        assert.equal(
          (await store.claimNext({ leaseMs: 1_000 }))?.id,
          "a0001",
        );
        // Idempotency keys came along: a retry of a copied key is a duplicate.
        assert.deepEqual(
          await store.insertAlertsIdempotent([{
            id: "x",
            detector: "odd",
            alert: {},
            idempotency_key: "k3",
          }]),
          [{ id: "a0003", duplicate: true }],
        );
      } finally {
        await store.close();
      }

      const bad = await runTask("store", [
        "copy",
        "--from",
        path,
        "--to",
        `${dir}/other.db`,
      ], {
        cwd: dir,
      });
      assert.equal(bad.code, 2, shown(bad));
      assert.match(bad.stderr, /--to must be a postgres:\/\/ URL/);
      const password = await runTask("store", [
        "copy",
        "--from",
        `${dir}/none.db`,
        "--to",
        "postgres://u:s3cret@127.0.0.1:1/x",
      ], {
        cwd: dir,
      });
      assert.notEqual(password.code, 0);
      assert.doesNotMatch(password.stdout + password.stderr, /s3cret/);
    } finally {
      await pg.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("backup on a PostgreSQL store says to use pg_dump", async () => {
  const dir = await Deno.makeTempDir({ prefix: "blitz_backup_pg_" });
  try {
    await Deno.writeTextFile(
      `${dir}/blitz.yaml`,
      stringify({
        store: { backend: "postgres", url: "${env:BLITZ_DATABASE_URL}" },
      }),
    );
    const run = await runTask("backup", [
      "copy.dump",
      "--config",
      `${dir}/blitz.yaml`,
    ], {
      cwd: dir,
      env: {
        BLITZ_DATABASE_URL: "postgres://blitz:s3cret@127.0.0.1:5432/blitz",
      },
    });
    assert.equal(run.code, 2, shown(run));
    assert.match(run.stderr, /pg_dump/);
    assert.doesNotMatch(run.stderr, /s3cret/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("replay on a PostgreSQL config whose database is away says which store, redacted, exit 2, no stack", async () => {
  const project = await writeProject({
    global: {
      store: { backend: "postgres", url: "${env:BLITZ_DATABASE_URL}" },
    },
  });
  // A port nothing listens on: bound, then let go.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  try {
    const run = await runTask("replay", ["--config", project.config], {
      cwd: project.dir,
      env: {
        ...project.env,
        BLITZ_DATABASE_URL: `postgres://blitz:s3cret@127.0.0.1:${port}/blitz`,
      },
    });
    assert.equal(run.code, 2, shown(run));
    assert.match(
      run.stderr,
      /blitz\.yaml: store\.url: Cannot open store postgres:\/\/blitz:\[redacted\]@127\.0\.0\.1:\d+\/blitz: connect ECONNREFUSED/,
    );
    assert.doesNotMatch(run.stderr, /s3cret/);
    assert.doesNotMatch(run.stderr, /^\s+at /m);
  } finally {
    await project.cleanup();
  }
});
