/**
 * Migration 10 (issue 17): a store written at schema version 9 is rebuilt without the inline
 * UNIQUE (detector, idempotency_key), whose index held an entry for every alert without a key, and
 * gets the same uniqueness as a partial index. Rows, rowids, the rows that refer to alerts and every
 * index survive; keyed alerts stay unique, unkeyed ones write no entry.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { MIGRATIONS } from "./_schema.ts";
import { openSqliteStore, SQLITE_SCHEMA_VERSION } from "./sqlite.ts";
import { alert, manualClock } from "../../../tests/_store_contract.ts";

/** A database at schema version 9 (the last before the rebuild), as Blitz wrote it. */
function writeVersion9(path: string): void {
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON");
    db.exec(
      "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)",
    );
    for (let version = 1; version <= 9; version++) {
      db.exec(MIGRATIONS[version - 1]!);
      db.prepare("INSERT INTO schema_migrations VALUES (?, 'then')").run(
        version,
      );
    }
    const insert = db.prepare(
      `INSERT INTO alerts (id, detector, received_at, updated_at, status, alert_json,
      idempotency_key, message, claims, fingerprint) VALUES (?, 'ids', ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const insertPlain = () =>
      insert.run(
        "b-plain",
        "2030-01-01T00:00:03.000Z",
        "2030-01-01T00:00:03.000Z",
        "queued",
        '{"n":2}',
        null,
        null,
        2,
        null,
      );
    insert.run(
      "a-keyed",
      "2030-01-01T00:00:01.000Z",
      "2030-01-01T00:00:02.000Z",
      "done",
      '{"n":1}',
      "id:42",
      '{"subject":"one"}',
      0,
      "fp-1",
    );
    insertPlain();
    insert.run(
      "c-plain",
      "2030-01-01T00:00:04.000Z",
      "2030-01-01T00:00:04.000Z",
      "queued",
      '{"n":3}',
      null,
      null,
      0,
      null,
    );
    // A gap in the rowids: the copy must keep them, not renumber.
    db.exec("DELETE FROM alerts WHERE id = 'b-plain'");
    insertPlain();
    db.exec(
      `INSERT INTO action_runs (nonce, alert_id, button, actor, actor_source, started_at, status, steps)
      VALUES ('n1', 'a-keyed', 'jira', 'ana', 'mail', '2030-01-01T00:01:00.000Z', 'done', '[]');
      INSERT INTO channel_deliveries (alert_id, channel, event, type, status, created_at, updated_at,
        next_attempt_at, payload)
      VALUES ('a-keyed', 'slack', 'firing', 'slack', 'delivered', 'x', 'x', 'x', '{}');
      INSERT INTO redeliveries (id, alert_id, detector, at, actor, source, email, channels,
        previous_attempts) VALUES ('r1', 'a-keyed', 'ids', 'x', 'ana', 'ui', 1, '[]', 1);`,
    );
  } finally {
    db.close();
  }
}

function schemaOf(db: DatabaseSync, type: string): Map<string, string | null> {
  return new Map(
    db.prepare(
      "SELECT name, sql FROM sqlite_master WHERE type = ? AND tbl_name = 'alerts' ORDER BY name",
    ).all(type).map((row) => [String(row.name), row.sql as string | null]),
  );
}

Deno.test("migration 10 rebuilds alerts with a partial unique index, keeping rows, rowids and references", async () => {
  const dir = await Deno.makeTempDir({ prefix: "blitz_migrate_" });
  const path = `${dir}/blitz.db`;
  try {
    writeVersion9(path);
    const before = new DatabaseSync(path);
    const rowsBefore = before.prepare(
      "SELECT rowid, * FROM alerts ORDER BY rowid",
    ).all();
    const indexesBefore = schemaOf(before, "index");
    before.close();
    assert.deepEqual(rowsBefore.map((r) => r.id), [
      "a-keyed",
      "c-plain",
      "b-plain",
    ]);
    assert.ok(indexesBefore.has("sqlite_autoindex_alerts_2"));

    const time = manualClock();
    const store = openSqliteStore(path, { clock: time.clock });
    try {
      const db = new DatabaseSync(path);
      try {
        assert.equal(
          db.prepare("SELECT max(version) AS v FROM schema_migrations").get()
            ?.v,
          SQLITE_SCHEMA_VERSION,
        );
        assert.deepEqual(
          db.prepare("SELECT rowid, * FROM alerts ORDER BY rowid").all(),
          rowsBefore,
        );
        assert.deepEqual(db.prepare("PRAGMA foreign_key_check").all(), []);
        assert.equal(
          db.prepare("SELECT count(*) AS n FROM action_runs").get()?.n,
          1,
        );
        const indexes = schemaOf(db, "index");
        // Every index of version 9 is back under its name, with its definition; the UNIQUE's
        // automatic index is gone, the partial index replaces it.
        for (const [name, sql] of indexesBefore) {
          if (name === "sqlite_autoindex_alerts_2") continue;
          assert.ok(indexes.has(name), `index ${name} kept`);
          if (sql !== null) {
            assert.equal(
              indexes.get(name)?.replace(/\s+/g, " "),
              sql.replace(/\s+/g, " "),
            );
          }
        }
        assert.equal(indexes.has("sqlite_autoindex_alerts_2"), false);
        assert.match(
          indexes.get("alerts_idempotency") ?? "",
          /UNIQUE INDEX alerts_idempotency ON alerts \(detector, idempotency_key\)\s+WHERE idempotency_key IS NOT NULL/,
        );
        // The table is the same but for the constraint.
        const table = String(
          db.prepare("SELECT sql FROM sqlite_master WHERE name = 'alerts'")
            .get()?.sql,
        );
        assert.doesNotMatch(table, /UNIQUE/);
        assert.match(table, /STRICT$/);
        assert.match(table, /claims INTEGER NOT NULL DEFAULT 0/);
        // A second row under a used key is still refused by the database itself.
        assert.throws(
          () =>
            db.prepare(
              `INSERT INTO alerts (id, detector, received_at, updated_at, status, alert_json, idempotency_key)
              VALUES ('d', 'ids', 'x', 'x', 'queued', '{}', 'id:42')`,
            ).run(),
          /UNIQUE constraint failed: alerts.detector, alerts.idempotency_key/,
        );
      } finally {
        db.close();
      }
      // Through the store: the keyed alert is found again, unkeyed ones are each new.
      const results = await store.insertAlertsIdempotent([
        alert("e", { detector: "ids", idempotency_key: "id:42" }),
        alert("f", { detector: "ids" }),
        alert("g", { detector: "ids" }),
      ]);
      assert.deepEqual(results, [
        { id: "a-keyed", duplicate: true },
        { id: "f", duplicate: false },
        { id: "g", duplicate: false },
      ]);
    } finally {
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("migration 10 refuses a store whose references were already broken, and changes nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "blitz_migrate_" });
  const path = `${dir}/blitz.db`;
  try {
    writeVersion9(path);
    const db = new DatabaseSync(path);
    db.exec("PRAGMA foreign_keys = OFF");
    db.exec(
      `INSERT INTO action_runs (nonce, alert_id, button, actor, actor_source, started_at, status, steps)
      VALUES ('orphan', 'gone', 'jira', 'ana', 'mail', 'x', 'done', '[]')`,
    );
    db.close();
    assert.throws(
      () => openSqliteStore(path, { clock: manualClock().clock }),
      /Cannot migrate store ".*blitz\.db": 1 rows of action_runs refer to missing rows of alerts .*restore the file from a backup/,
    );
    const after = new DatabaseSync(path);
    try {
      assert.equal(
        after.prepare("SELECT max(version) AS v FROM schema_migrations").get()
          ?.v,
        9,
      );
      assert.match(
        String(
          after.prepare("SELECT sql FROM sqlite_master WHERE name = 'alerts'")
            .get()?.sql,
        ),
        /UNIQUE \(detector, idempotency_key\)/,
      );
    } finally {
      after.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
