/**
 * `deno task replay` on `store.backend: postgres` (a real throwaway PostgreSQL): the storm recorded in
 * the database is read through the Store interface in keyset pages and replayed on a scratch state,
 * with the silence an operator recorded there; the prediction equals what processing the same storm
 * with the changed config really sends (digests and the end-of-silence email included), and not a
 * row of the database changes (every table's contents hashed before and after).
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { writeProject } from "./_config.ts";
import { hasPostgres, startPostgres } from "./_postgres.ts";
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

Deno.test({
  name:
    "replay on PostgreSQL reads the store read-only and predicts storm control exactly, with the recorded silence",
  ignore: !hasPostgres(),
  fn: async () => {
    const pg = await startPostgres();
    if (!pg) return;
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
      await pg.stop();
    }
  },
});
