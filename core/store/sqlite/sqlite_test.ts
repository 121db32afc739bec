import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  openSqliteStore,
  SQLITE_SCHEMA_VERSION,
  type SqliteStore,
} from "./sqlite.ts";
import type { ActionRun, AlertRecord, NewAlert } from "../store.ts";

/** A clock tests move by hand. */
function manualClock(start = "2030-01-01T00:00:00.000Z") {
  let now = new Date(start);
  return {
    clock: () => now,
    set(iso: string) {
      now = new Date(iso);
    },
  };
}

/** Runs `fn` with a store on a file in a fresh temp dir, then closes it and removes the dir. */
async function withStore(
  fn: (
    store: SqliteStore,
    ctx: { path: string; time: ReturnType<typeof manualClock> },
  ) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "blitz_store_" });
  const path = `${dir}/data/blitz.db`;
  const time = manualClock();
  const store = openSqliteStore(path, { clock: time.clock });
  try {
    await fn(store, { path, time });
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function alert(id: string, extra: Partial<NewAlert> = {}): NewAlert {
  return {
    id,
    detector: "ssh_bruteforce",
    alert: { src_ip: "203.0.113.7", n: 1 },
    ...extra,
  };
}

function run(nonce: string, extra: Partial<ActionRun> = {}): ActionRun {
  return {
    nonce,
    alert_id: "a1",
    button: "Block IP",
    actor: "alice@example.test",
    actor_source: "trusted_header",
    started_at: "2030-01-01T00:00:00.000Z",
    status: "running",
    steps: [],
    ...extra,
  };
}

/**
 * Inserts a queue as the claims see it at 00:00:30: "old" (received 00:00:01) and "new" (00:00:03)
 * queued, "retry_due" (00:00:02) due at 00:00:30, "retry_later" (00:00:00) due at 00:01:00, and
 * "done" delivered; `extra` alerts are inserted before "done".
 */
async function insertQueue(
  store: SqliteStore,
  extra: NewAlert[] = [],
): Promise<void> {
  await store.insertAlerts([
    alert("new", { received_at: "2030-01-01T00:00:03.000Z" }),
    alert("old", { received_at: "2030-01-01T00:00:01.000Z" }),
    alert("retry_later", { received_at: "2030-01-01T00:00:00.000Z" }),
    alert("retry_due", { received_at: "2030-01-01T00:00:02.000Z" }),
    ...extra,
    alert("done", {
      received_at: "2029-01-01T00:00:00.000Z",
      status: "delivered",
    }),
  ]);
  await store.updateAlert("retry_later", {
    status: "retry",
    next_attempt_at: "2030-01-01T00:01:00.000Z",
  });
  await store.updateAlert("retry_due", {
    status: "retry",
    next_attempt_at: "2030-01-01T00:00:30.000Z",
  });
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
        "schema_migrations",
        "silences",
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

Deno.test("insertAlerts() and getAlert() round-trip every field", async () => {
  await withStore(async (store, { time }) => {
    await store.insertAlerts([
      alert("a1", {
        received_at: "2030-01-01T01:00:00+01:00",
        idempotency_key: "k1",
        status: "queued",
      }),
    ]);
    const fresh = await store.getAlert("a1");
    assert.deepEqual(fresh, {
      id: "a1",
      detector: "ssh_bruteforce",
      received_at: "2030-01-01T00:00:00.000Z", // normalised to sortable UTC
      updated_at: "2030-01-01T00:00:00.000Z",
      status: "queued",
      alert: { src_ip: "203.0.113.7", n: 1 },
      idempotency_key: "k1",
      attempts: 0,
    });
    time.set("2030-01-01T00:05:00.000Z");
    const patch = {
      status: "delivered",
      subject: "SSH brute force from 203.0.113.7",
      to: ["soc@example.test"],
      cc: ["lead@example.test"],
      condition: "alert.n > 0",
      enrichments: [{
        name: "rdns",
        func: "reverse_dns",
        status: "ok",
        ms: 3,
        data: { hostnames: ["h"] },
      }],
      actions: [{
        name: "jira",
        status: "ok",
        return_name: "ticket",
        value: "SEC-1",
        ms: 20,
      }],
      message: {
        from: "blitz@example.test",
        to: ["soc@example.test"],
        cc: [],
        subject: "s",
        html: "<p>h</p>",
        text: "h",
        message_id: "<a1@blitz>",
        headers: { "X-Blitz": "1" },
      },
      message_id: "<a1@blitz>",
      delivery: { status: "sent", response: "250 OK" },
      attempts: 2,
      next_attempt_at: "2030-01-01T00:10:00.000Z",
      last_error: "first try: 421",
      jira_keys: ["SEC-1"],
    } as const satisfies Partial<AlertRecord>;
    await store.updateAlert(
      "a1",
      structuredClone(patch) as Parameters<SqliteStore["updateAlert"]>[1],
    );
    assert.deepEqual(await store.getAlert("a1"), {
      ...fresh,
      ...patch,
      updated_at: "2030-01-01T00:05:00.000Z",
    });
    await store.updateAlert("a1", { condition: null });
    assert.equal((await store.getAlert("a1"))?.condition, null);
    assert.equal(await store.getAlert("missing"), undefined);
  });
});

Deno.test("insertAlerts() is all or nothing", async () => {
  await withStore(async (store) => {
    await store.insertAlerts([alert("a1")]);
    await assert.rejects(
      store.insertAlerts([alert("a2"), alert("a3"), alert("a1")]),
      /UNIQUE/,
    );
    await assert.rejects(
      store.insertAlerts([alert("a4"), alert("a4")]),
      /UNIQUE/,
    );
    assert.deepEqual((await store.listAlerts()).map((a) => a.id), ["a1"]);
    await store.insertAlerts([alert("a2"), alert("a3")]);
    await store.insertAlerts([]);
    assert.equal((await store.listAlerts()).length, 3);
  });
});

Deno.test("insertAlertsIdempotent() returns the original id for a known key", async () => {
  await withStore(async (store) => {
    assert.deepEqual(
      await store.insertAlertsIdempotent([
        alert("a1", { idempotency_key: "k" }),
      ]),
      [
        { id: "a1", duplicate: false },
      ],
    );
    const result = await store.insertAlertsIdempotent([
      alert("a2", { idempotency_key: "k" }), // seen before
      alert("a3", { idempotency_key: "k2" }), // new
      alert("a4", { idempotency_key: "k2" }), // duplicate inside the batch
      alert("a5", { idempotency_key: "k", detector: "other" }), // keys are per detector
      alert("a6"), // no key: always new
    ]);
    assert.deepEqual(result, [
      { id: "a1", duplicate: true },
      { id: "a3", duplicate: false },
      { id: "a3", duplicate: true },
      { id: "a5", duplicate: false },
      { id: "a6", duplicate: false },
    ]);
    assert.deepEqual((await store.listAlerts()).map((a) => a.id).sort(), [
      "a1",
      "a3",
      "a5",
      "a6",
    ]);
    await assert.rejects(
      store.insertAlertsIdempotent([
        alert("a7", { idempotency_key: "k3" }),
        alert("a1"),
      ]),
    );
    assert.equal(await store.getAlert("a7"), undefined);
  });
});

Deno.test("claimNext() takes the oldest due alert and leases it", async () => {
  await withStore(async (store, { time }) => {
    await insertQueue(store);
    const now = new Date("2030-01-01T00:00:30.000Z");
    const first = await store.claimNext({ now, leaseMs: 60_000 });
    assert.equal(first?.id, "old");
    assert.equal(first?.status, "processing");
    assert.equal(first?.attempts, 0);
    assert.equal(
      (await store.claimNext({ now, leaseMs: 60_000 }))?.id,
      "retry_due",
    );
    assert.equal((await store.claimNext({ now, leaseMs: 60_000 }))?.id, "new");
    assert.equal(await store.claimNext({ now, leaseMs: 60_000 }), undefined);
    time.set("2030-01-01T00:01:00.000Z");
    assert.equal(
      (await store.claimNext({ leaseMs: 60_000 }))?.id,
      "retry_later",
    );
    assert.equal((await store.getAlert("old"))?.status, "processing");
  });
});

Deno.test("claimBatch() claims the oldest due alerts up to the limit, as claimNext() would", async () => {
  await withStore(async (store, { time }) => {
    await insertQueue(store, [
      alert("same_time_1", { received_at: "2030-01-01T00:00:04.000Z" }),
      alert("same_time_2", { received_at: "2030-01-01T00:00:04.000Z" }),
    ]);
    const now = new Date("2030-01-01T00:00:30.000Z");
    const hour = 3_600_000;
    const first = await store.claimBatch({ now, leaseMs: hour, limit: 2 });
    assert.deepEqual(first.map((a) => a.id), ["old", "retry_due"]);
    for (const record of first) {
      assert.equal(record.status, "processing");
      assert.equal(record.updated_at, now.toISOString());
    }
    assert.deepEqual(first[0]?.alert, { src_ip: "203.0.113.7", n: 1 });
    assert.deepEqual(
      (await store.claimBatch({ now, leaseMs: hour, limit: 10 })).map((a) =>
        a.id
      ),
      ["new", "same_time_1", "same_time_2"],
    );
    assert.deepEqual(
      await store.claimBatch({ now, leaseMs: hour, limit: 10 }),
      [],
    );
    time.set("2030-01-01T00:01:00.000Z");
    assert.deepEqual(
      (await store.claimBatch({ leaseMs: 60_000, limit: 10 })).map((a) => a.id),
      ["retry_later"],
    );
    // The lease is the one claimNext would set: not stale before it ends, stale after.
    assert.equal(
      await store.requeueStale({ now: new Date("2030-01-01T00:01:59.000Z") }),
      0,
    );
    assert.equal(
      await store.requeueStale({ now: new Date("2030-01-01T00:02:01.000Z") }),
      1,
    );
    assert.equal((await store.getAlert("retry_later"))?.status, "queued");
    assert.equal((await store.getAlert("done"))?.status, "delivered");
  });
});

Deno.test("claimBatch() refuses a limit that is not a positive integer", async () => {
  await withStore(async (store) => {
    await store.insertAlerts([alert("a1")]);
    for (const limit of [0, -1, 1.5, Number.NaN]) {
      await assert.rejects(
        store.claimBatch({ leaseMs: 1_000, limit }),
        RangeError,
      );
    }
    assert.equal((await store.getAlert("a1"))?.status, "queued");
  });
});

Deno.test("writes in one group commit fail alone: the others are committed", async () => {
  await withStore(async (store) => {
    await store.insertAlerts([alert("a1"), alert("a2")]);
    // Issued in one turn, so they share one transaction (one commit).
    const results = await Promise.allSettled([
      store.updateAlert("a1", { status: "delivered", attempts: 1 }),
      store.insertAlerts([alert("a1")]), // duplicate id: its INSERT fails
      store.updateAlert("missing", { status: "delivered" }), // no such alert
      store.insertAlertsIdempotent([alert("a3", { idempotency_key: "k" })]),
      store.insertAlerts([alert("a4"), alert("a2")]), // fails as a whole
      store.updateAlert("a2", { status: "failed", last_error: "x" }),
    ]);
    assert.deepEqual(results.map((r) => r.status), [
      "fulfilled",
      "rejected",
      "rejected",
      "fulfilled",
      "rejected",
      "fulfilled",
    ]);
    assert.match(
      String((results[1] as PromiseRejectedResult).reason),
      /UNIQUE/,
    );
    assert.match(
      String((results[2] as PromiseRejectedResult).reason),
      /no such alert/,
    );
    assert.equal((await store.getAlert("a1"))?.status, "delivered");
    assert.equal((await store.getAlert("a1"))?.attempts, 1);
    assert.equal((await store.getAlert("a2"))?.status, "failed");
    assert.equal((await store.getAlert("a3"))?.idempotency_key, "k");
    assert.equal(await store.getAlert("a4"), undefined);
    assert.equal((await store.listAlerts()).length, 3);
  });
});

Deno.test("requeueStale() requeues expired leases, or all processing alerts", async () => {
  await withStore(async (store) => {
    await store.insertAlerts([
      alert("a1"),
      alert("a2"),
      alert("a3", { status: "delivered" }),
    ]);
    const start = new Date("2030-01-01T00:00:00.000Z");
    await store.claimNext({ now: start, leaseMs: 10_000 });
    await store.claimNext({ now: start, leaseMs: 60_000 });
    assert.equal(
      await store.requeueStale({ now: new Date("2030-01-01T00:00:09.000Z") }),
      0,
    );
    assert.equal(
      await store.requeueStale({ now: new Date("2030-01-01T00:00:11.000Z") }),
      1,
    );
    assert.equal((await store.getAlert("a1"))?.status, "queued");
    assert.equal((await store.getAlert("a2"))?.status, "processing");
    assert.equal(await store.requeueStale({ all: true }), 1);
    assert.equal((await store.getAlert("a2"))?.status, "queued");
    assert.equal((await store.getAlert("a3"))?.status, "delivered");
    assert.equal((await store.claimNext({ now: start, leaseMs: 1 }))?.id, "a1");
  });
});

Deno.test("updateAlert() changes only the given fields", async () => {
  await withStore(async (store, { time }) => {
    await store.insertAlerts([alert("a1")]);
    await store.updateAlert("a1", {
      to: ["a@example.test"],
      cc: ["b@example.test"],
      subject: "s",
      last_error: "e",
    });
    time.set("2030-01-02T00:00:00.000Z");
    await store.updateAlert("a1", { to: ["c@example.test"], attempts: 1 });
    const record = await store.getAlert("a1");
    assert.deepEqual(record?.to, ["c@example.test"]);
    assert.deepEqual(record?.cc, ["b@example.test"]);
    assert.equal(record?.subject, "s");
    assert.equal(record?.last_error, "e");
    assert.equal(record?.attempts, 1);
    assert.equal(record?.status, "queued");
    assert.equal(record?.updated_at, "2030-01-02T00:00:00.000Z");
    assert.equal(record?.received_at, "2030-01-01T00:00:00.000Z");
    // A key given as undefined clears an optional field (object-spread semantics).
    await store.updateAlert(
      "a1",
      { last_error: undefined, cc: undefined } as unknown as {
        last_error: string;
      },
    );
    const cleared = await store.getAlert("a1");
    assert.equal("last_error" in cleared!, false);
    assert.equal("cc" in cleared!, false);
    assert.deepEqual(cleared?.to, ["c@example.test"]);
    await assert.rejects(
      store.updateAlert("missing", { attempts: 1 }),
      /no such alert/,
    );
    await assert.rejects(
      store.updateAlert("a1", { id: "x" } as never),
      TypeError,
    );
  });
});

Deno.test("listAlerts() lists newest first with filters and a cursor", async () => {
  await withStore(async (store) => {
    const alerts = Array.from({ length: 600 }, (_, i) =>
      alert(`a${i}`, {
        received_at: new Date(Date.UTC(2030, 0, 1, 0, 0, i)).toISOString(),
        detector: i % 2 === 0 ? "even" : "odd",
        status: i % 3 === 0 ? "delivered" : "queued",
      }));
    await store.insertAlerts(alerts);
    const page = await store.listAlerts();
    assert.equal(page.length, 50);
    assert.deepEqual(page.slice(0, 2).map((a) => a.id), ["a599", "a598"]);
    assert.equal((await store.listAlerts({ limit: 10_000 })).length, 500);
    await assert.rejects(store.listAlerts({ limit: 0 }), RangeError);
    const even = await store.listAlerts({
      detector: "even",
      status: "delivered",
      limit: 3,
    });
    assert.deepEqual(even.map((a) => a.id), ["a594", "a588", "a582"]);
    const next = await store.listAlerts({
      detector: "even",
      status: "delivered",
      limit: 3,
      before: even[2]!.received_at,
    });
    assert.deepEqual(next.map((a) => a.id), ["a576", "a570", "a564"]);
    assert.deepEqual(
      (await store.listAlerts({ status: "queued", limit: 2 })).map((a) => a.id),
      ["a599", "a598"],
    );
    assert.deepEqual(
      (await store.listAlerts({ before: "2030-01-01T00:00:02.000Z" })).map((
        a,
      ) => a.id),
      ["a1", "a0"],
    );
  });
});

Deno.test("listAlerts() pages alerts that share a received_at with a (received_at, id) cursor", async () => {
  await withStore(async (store) => {
    const at = "2030-01-01T00:00:00.000Z";
    // 7 alerts in the same millisecond, inserted out of id order, and one older.
    await store.insertAlerts(
      ["t3", "t6", "t0", "t5", "t1", "t4", "t2"].map((id) =>
        alert(id, { received_at: at })
      ).concat([alert("old", { received_at: "2029-12-31T00:00:00.000Z" })]),
    );
    const seen: string[] = [];
    let cursor: { before: string; before_id: string } | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = await store.listAlerts({ limit: 3, ...cursor });
      seen.push(...page.map((a) => a.id));
      if (page.length < 3) break;
      const last = page[page.length - 1]!;
      cursor = { before: last.received_at, before_id: last.id };
    }
    assert.deepEqual(seen, ["t6", "t5", "t4", "t3", "t2", "t1", "t0", "old"]);
    // `before` alone keeps its meaning: strictly older than the instant.
    assert.deepEqual(
      (await store.listAlerts({ before: at })).map((a) => a.id),
      ["old"],
    );
  });
});

Deno.test("consumeNonce() lets exactly one of two concurrent calls create the run", async () => {
  await withStore(async (store) => {
    await store.insertAlerts([alert("a1")]);
    const results = await Promise.all([
      store.consumeNonce(run("n1", { actor: "alice@example.test" })),
      store.consumeNonce(run("n1", { actor: "bob@example.test" })),
    ]);
    assert.deepEqual(results.map((r) => r.created).sort(), [false, true]);
    const winner = results.find((r) => r.created)!.run.actor;
    assert.ok(
      results.every((r) => r.run.actor === winner),
      "both calls see the stored run",
    );
    const replay = await store.consumeNonce(
      run("n1", { actor: "mallory@example.test" }),
    );
    assert.equal(replay.created, false);
    assert.equal(replay.run.actor, winner);
    await assert.rejects(
      store.consumeNonce(run("n2", { alert_id: "missing" })),
      /no such alert/,
    );
  });
});

Deno.test("consumeNonce() is single-use across two connections to one file", async () => {
  await withStore(async (store, { path }) => {
    await store.insertAlerts([alert("a1")]);
    const other = openSqliteStore(path);
    try {
      const results = await Promise.all([
        store.consumeNonce(run("n1")),
        other.consumeNonce(run("n1")),
      ]);
      assert.deepEqual(results.map((r) => r.created).sort(), [false, true]);
    } finally {
      await other.close();
    }
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

Deno.test("listActionRuns() returns an alert's runs oldest first, with finishActionRun() updates", async () => {
  await withStore(async (store) => {
    await store.insertAlerts([alert("a1"), alert("a2")]);
    await store.consumeNonce(
      run("late", { started_at: "2030-01-01T00:02:00.000Z" }),
    );
    await store.consumeNonce(
      run("early", {
        started_at: "2030-01-01T00:01:00.000Z",
        client_ip: "127.0.0.1",
      }),
    );
    await store.consumeNonce(run("other", { alert_id: "a2" }));
    await store.finishActionRun("early", {
      status: "ok",
      finished_at: "2030-01-01T00:01:05.000Z",
      steps: [{ name: "jira", status: "ok", value: "SEC-2" }],
    });
    const runs = await store.listActionRuns("a1");
    assert.deepEqual(runs.map((r) => r.nonce), ["early", "late"]);
    assert.deepEqual(runs[0], {
      ...run("early", {
        started_at: "2030-01-01T00:01:00.000Z",
        client_ip: "127.0.0.1",
      }),
      status: "ok",
      finished_at: "2030-01-01T00:01:05.000Z",
      steps: [{ name: "jira", status: "ok", value: "SEC-2" }],
    });
    assert.equal("finished_at" in runs[1]!, false);
    assert.deepEqual(await store.listActionRuns("missing"), []);
    await assert.rejects(
      store.finishActionRun("missing", { status: "ok" }),
      /no such run/,
    );
  });
});

Deno.test("backlog() counts queued, processing and retry alerts", async () => {
  await withStore(async (store) => {
    assert.equal(await store.backlog(), 0);
    await store.insertAlerts([
      alert("q"),
      alert("p"),
      alert("r"),
      alert("d", { status: "delivered" }),
      alert("f", { status: "failed" }),
      alert("n", { status: "not_sent" }),
    ]);
    await store.updateAlert("p", { status: "processing" });
    await store.updateAlert("r", { status: "retry" });
    assert.equal(await store.backlog(), 3);
    await store.updateAlert("q", { status: "delivered" });
    assert.equal(await store.backlog(), 2);
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
