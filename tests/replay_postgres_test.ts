/**
 * `deno task replay` on `store.backend: postgres` (a real throwaway PostgreSQL): the storm recorded in
 * the database is read through the Store interface in keyset pages and replayed on a scratch state,
 * with the silence an operator recorded there; the prediction equals what processing the same storm
 * with the changed config really sends (digests and the end-of-silence email included), and not a
 * row of the database changes (every table's contents hashed before and after). Alerts that share
 * one received_at across keyset pages are each read once.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { writeProject } from "./_config.ts";
import { hasPostgres, type Postgres, startPostgres } from "./_postgres.ts";
import {
  addStormSilence,
  DETECTOR,
  playStorm,
  STORM_ALERTS,
  stormDetector,
  stormStart,
  writeVariant,
} from "./_replay_storm.ts";
import { runTask, shown } from "./_task.ts";
import { openPostgresStore } from "../core/store/postgres/postgres.ts";

const TEN = stormDetector({ realert: "10m" });

/** Each table of the database with its row count and a hash of its rows. */
async function contents(url: string): Promise<Record<string, string>> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const tables = await sql<{ name: string }[]>`
      SELECT table_name AS name FROM information_schema.tables
      WHERE table_schema = 'public' ORDER BY table_name`;
    const out: Record<string, string> = {};
    for (const { name } of tables) {
      const [row] = await sql.unsafe(
        `SELECT count(*) AS n, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS h
        FROM "${name}" t`,
      );
      out[name] = `${row!.n} ${row!.h}`;
    }
    return out;
  } finally {
    await sql.end();
  }
}

/** The storm, replayed from the database with the operator's silence. */
async function stormReplay(pg: Postgres): Promise<void> {
  const project = await writeProject({
    global: {
      store: { backend: "postgres", url: "${env:BLITZ_DATABASE_URL}" },
    },
    detectors: { [DETECTOR]: stormDetector() },
  });
  try {
    const url = await pg.freshDatabase();
    project.env.BLITZ_DATABASE_URL = url;
    const start = stormStart();
    const recorded = await playStorm(project, { start });
    assert.equal(recorded.emails, STORM_ALERTS);
    // The operator's silence, recorded after the fact (a replay takes it as recorded).
    const store = await openPostgresStore(url);
    await addStormSilence(store, start).finally(() => store.close());

    // What processing the storm with the changed config and that silence really sends.
    const truthProject = await writeProject({
      detectors: { [DETECTOR]: TEN },
    });
    const expected = await playStorm(truthProject, {
      start,
      setup: (s) => addStormSilence(s, start),
    }).finally(() => truthProject.cleanup());
    assert.equal(expected.storm.silence_end, 1, "the silence held alerts");

    const ten = await writeVariant(project, "ten", { [DETECTOR]: TEN });
    const before = await contents(url);
    const run = await runTask("replay", [
      "--config",
      ten,
      "--json",
      "--fail-on",
      "changed",
    ], { cwd: project.dir, env: project.env });
    assert.equal(run.code, 1, shown(run));
    const report = JSON.parse(run.stdout);
    assert.equal(report.summary.replayed, STORM_ALERTS);
    assert.deepEqual(
      report.alerts.map((a: { id: string }) => a.id),
      recorded.ids,
      "alert-time order",
    );
    const { after } = report.summary.storm;
    assert.equal(after.emails, expected.emails);
    assert.deepEqual(
      Object.fromEntries(
        Object.entries(after.storm_emails).filter(([, n]) => n !== 0),
      ),
      expected.storm,
    );
    assert.ok((after.suppressed.silence ?? 0) > 0, run.stdout.slice(0, 800));
    const silenced = report.alerts.find((a: {
      after: { storm: { suppressed_by?: string } };
    }) => a.after.storm.suppressed_by === "silence");
    assert.equal(silenced.after.storm.silence_id, "silence-replay-1");
    assert.deepEqual(await contents(url), before, "not a row changed");

    const text = await runTask("replay", ["--config", ten], {
      cwd: project.dir,
      env: project.env,
    });
    assert.equal(text.code, 0, shown(text));
    assert.match(text.stdout, /^replay: 40 alert\(s\) from postgres:\/\//);
    assert.match(text.stdout, /end-of-silence email/);
  } finally {
    await project.cleanup();
  }
}

/** 1,203 alerts in one millisecond: a page of 500 ends inside the tie, twice. */
async function tiesReplay(pg: Postgres): Promise<void> {
  const project = await writeProject({
    global: {
      store: { backend: "postgres", url: "${env:BLITZ_DATABASE_URL}" },
    },
    detectors: { d: { subject: "S {n}" } },
  });
  try {
    const url = await pg.freshDatabase();
    // 1,203 alerts in one millisecond: a page of 500 ends inside the tie, twice.
    const at = new Date(Date.now() - 60_000).toISOString();
    const store = await openPostgresStore(url);
    await store.insertAlerts(
      Array.from({ length: 1203 }, (_, n) => ({
        id: `tie-${String(n).padStart(4, "0")}`,
        detector: "d",
        alert: { n },
        received_at: at,
        status: "delivered" as const,
      })),
    ).finally(() => store.close());
    const run = await runTask(
      "replay",
      ["--config", "blitz.yaml", "--since", "1h", "--json"],
      {
        cwd: project.dir,
        env: { ...project.env, BLITZ_DATABASE_URL: url },
      },
    );
    assert.equal(run.code, 0, shown(run));
    const report = JSON.parse(run.stdout);
    const ids = report.alerts.map((a: { id: string }) => a.id);
    assert.equal(new Set(ids).size, 1203, "each alert exactly once");
    assert.deepEqual(ids, [...ids].sort(), "alert-time order, then id");
    // The sessions replay reads with refuse any write.
    const readOnly = await openPostgresStore(url, { readOnly: true });
    await assert.rejects(
      readOnly.insertAlerts([{ id: "x", detector: "d", alert: {} }]),
      /read-only transaction/,
    ).finally(() => readOnly.close());
  } finally {
    await project.cleanup();
  }
}

Deno.test({
  name: "replay on PostgreSQL (a real throwaway server)",
  ignore: !hasPostgres(),
  fn: async (t) => {
    const pg = await startPostgres();
    if (!pg) return;
    try {
      await t.step(
        "reads the store read-only and predicts storm control exactly, with the recorded silence",
        () => stormReplay(pg),
      );
      await t.step(
        "reads every alert once when many share one received_at across its keyset pages",
        () => tiesReplay(pg),
      );
    } finally {
      await pg.stop();
    }
  },
});
