/**
 * `deno task replay` with the rest of storm control: the silences and acks an operator recorded in the
 * store are replayed as recorded (at their times, on the scratch state), grouped emails and the storm
 * breaker's notices and digests are predicted exactly (each checked against processing the same
 * storm with that config on an injected clock), a resolve goes through its realert window in its
 * thread, and the real store stays as it was.
 */
import assert from "node:assert/strict";
import { writeProject } from "./_config.ts";
import {
  addStormSilence,
  DETECTOR,
  mailedBy,
  playStorm,
  STEP_MS,
  storeSnapshot,
  STORM_ALERTS,
  stormAlert,
  stormDetector,
  stormStart,
  writeVariant,
} from "./_replay_storm.ts";
import { runTask, shown } from "./_task.ts";
import { openSqliteStore } from "../core/store/sqlite/sqlite.ts";

const OFF = stormDetector();
const TEN = stormDetector({ realert: "10m" });

Deno.test("replay on SQLite takes the silences and acks recorded in the store, as recorded", async () => {
  const start = stormStart();
  const ackAt = start + 4 * STEP_MS; // before alert 4, the storm's third alert of fingerprint 1
  const project = await writeProject({ detectors: { [DETECTOR]: TEN } });
  try {
    const recorded = await playStorm(project, { start });
    // The operators' input, recorded in the store after the fact: a silence of fingerprint 1's
    // source, and an ack of fingerprint 0 at 2 minutes.
    const store = openSqliteStore(`${project.dataDir}/blitz.db`);
    try {
      await addStormSilence(store, start);
      const fingerprint = (await store.getAlert(recorded.ids[0]!))!
        .fingerprint!;
      assert.ok(
        await store.storm.ack(fingerprint, {
          actor: "analyst@example.test",
          at: new Date(ackAt),
        }),
      );
    } finally {
      await store.close();
    }
    // What processing sends when the same input comes at those times.
    const truthProject = await writeProject({
      detectors: { [DETECTOR]: TEN },
    });
    const expected = await playStorm(truthProject, {
      start,
      setup: (s) => addStormSilence(s, start),
      before: async (n, { store, ids }) => {
        if (n !== 4) return;
        const fingerprint = (await store.getAlert(ids[0]!))!.fingerprint!;
        await store.storm.ack(fingerprint, {
          actor: "analyst@example.test",
          at: new Date(ackAt),
        });
      },
    }).finally(() => truthProject.cleanup());
    assert.equal(expected.emails, 5, "fingerprint 0 acked: no second email");
    const untouched = await storeSnapshot(project.dataDir);

    const run = await runTask("replay", ["--config", "blitz.yaml", "--json"], {
      cwd: project.dir,
      env: project.env,
    });
    assert.equal(run.code, 0, shown(run));
    const { summary, alerts } = JSON.parse(run.stdout);
    const { after } = summary.storm;
    assert.equal(after.emails, expected.emails);
    assert.equal(after.storm_emails.digest, expected.storm.digest ?? 0);
    assert.equal(after.storm_emails.silence_end, 1);
    assert.equal(expected.storm.silence_end, 1);
    assert.ok(after.suppressed.ack > 0 && after.suppressed.silence > 0);
    const acked = alerts[6]; // fingerprint 0 at 180 s, after the ack
    assert.deepEqual(acked.after.storm, {
      decision: "suppressed",
      suppressed_by: "ack",
      notified_id: recorded.ids[0],
    });
    assert.deepEqual(acked.before.storm.suppressed_by, "realert");
    assert.deepEqual(await storeSnapshot(project.dataDir), untouched);
  } finally {
    await project.cleanup();
  }
});

Deno.test("replay predicts grouped emails and the storm breaker's notices and digests exactly", async () => {
  const start = stormStart();
  const project = await writeProject({ detectors: { [DETECTOR]: OFF } });
  try {
    await playStorm(project, { start });
    const untouched = await storeSnapshot(project.dataDir);
    const variants: [
      string,
      Record<string, unknown>,
      Record<string, unknown>,
    ][] = [
      // The three fingerprints share one destination: one group.
      [
        "grouped",
        stormDetector({
          fingerprint: ["dest_ip", "src_ip"],
          realert: "10m",
          group: { by: ["dest_ip"], wait: "30s", interval: "5m" },
        }),
        {},
      ],
      // No fingerprints; at most 10 emails an hour, then digest-only every 15 minutes.
      ["breaker", OFF, { storm_breaker: "10/h" }],
    ];
    for (const [name, detector, global] of variants) {
      const config = await writeVariant(
        project,
        name,
        { [DETECTOR]: detector },
        global,
      );
      const run = await runTask("replay", ["--config", config, "--json"], {
        cwd: project.dir,
        env: project.env,
      });
      assert.equal(run.code, 0, shown(run));
      const { after } = JSON.parse(run.stdout).summary.storm;
      const expected = await mailedBy(detector, start, global);
      assert.equal(after.emails, expected.emails, name);
      assert.deepEqual(
        Object.fromEntries(
          Object.entries(after.storm_emails).filter(([, n]) => n !== 0),
        ),
        expected.storm,
        name,
      );
      const kinds = Object.keys(expected.storm).sort();
      assert.deepEqual(
        kinds,
        name === "grouped"
          ? ["digest", "group"]
          : ["breaker_digest", "breaker_off", "breaker_on"],
        `${name}: ${JSON.stringify(expected)}`,
      );
      assert.equal(
        after.emails + Object.values(after.suppressed as Record<string, number>)
          .reduce((a, b) => a + b, 0),
        STORM_ALERTS,
        "every alert mailed or suppressed",
      );
    }
    assert.deepEqual(await storeSnapshot(project.dataDir), untouched);
  } finally {
    await project.cleanup();
  }
});

Deno.test("replay lets a fingerprint's resolve through its realert window, in its thread, as processing does", async () => {
  const start = stormStart();
  // Alert 30 (fingerprint 0, at 15 min: inside its second window) reports a resolution.
  const alert = (n: number) => ({
    ...stormAlert(n),
    ...(n === 30 ? { status: "resolved" } : {}),
  });
  const project = await writeProject({ detectors: { [DETECTOR]: OFF } });
  try {
    const recorded = await playStorm(project, { start, alert });
    const ten = await writeVariant(project, "ten", { [DETECTOR]: TEN });
    const run = await runTask("replay", ["--config", ten, "--json"], {
      cwd: project.dir,
      env: project.env,
    });
    assert.equal(run.code, 0, shown(run));
    const { summary, alerts } = JSON.parse(run.stdout);
    const expected = await mailedBy(TEN, start, {}, alert);
    assert.equal(summary.storm.after.emails, expected.emails);
    // The resolve is mailed, and the next firing after it opens a fresh window (one more email).
    assert.equal(expected.emails, 8);
    assert.equal(
      summary.storm.after.storm_emails.digest,
      expected.storm.digest ?? 0,
    );
    const resolve = alerts[30];
    assert.equal(resolve.id, recorded.ids[30]);
    assert.deepEqual(resolve.after.storm, { decision: "notify" });
    assert.match(resolve.after.subject, /^Resolved: IDS ET RULE 2000 from /);
  } finally {
    await project.cleanup();
  }
});
