/**
 * `deno task replay` predicts storm control exactly: a storm of 40 alerts over 3 fingerprints recorded
 * with one config, replayed (a child process) with a config that turns storm control on or changes
 * `realert`, gives the very emails and digests that processing the same storm with that config
 * really sends (played on an injected clock), and says so per alert (the storm decision with the
 * notified alert) and in the summary (text, --json); --fail-on changed exits 1 only when something
 * differs; the real store's bytes, row counts and outbox stay as they were.
 */
import assert from "node:assert/strict";
import { writeProject } from "./_config.ts";
import {
  DETECTOR,
  mailedBy,
  playStorm,
  STEP_MS,
  storeSnapshot,
  STORM_ALERTS,
  stormDetector,
  stormStart,
  writeVariant,
} from "./_replay_storm.ts";
import { runTask, shown } from "./_task.ts";

const OFF = stormDetector();
const TEN = stormDetector({ realert: "10m" });
const FIVE = stormDetector({ realert: "5m", realert_max: "20m" });

Deno.test("replay predicts storm control's emails and digests exactly, per alert and in sum, and touches nothing", async () => {
  const start = stormStart();
  const project = await writeProject({ detectors: { [DETECTOR]: OFF } });
  try {
    const recorded = await playStorm(project, { start });
    assert.equal(
      recorded.emails,
      STORM_ALERTS,
      "recorded without storm control",
    );
    const ten = await writeVariant(project, "ten", { [DETECTOR]: TEN });
    const untouched = await storeSnapshot(project.dataDir);
    const replay = (config: string, ...args: string[]) =>
      runTask("replay", ["--config", config, ...args], {
        cwd: project.dir,
        env: project.env,
      });

    const run = await replay(ten, "--json", "--fail-on", "changed");
    assert.equal(run.code, 1, shown(run));
    const report = JSON.parse(run.stdout);
    const expected = await mailedBy(TEN, start);
    // By hand: each fingerprint notifies at its first alert and 630 s later (the first alert after
    // its 10-minute window); both windows close with alerts in them, so 2 digests each.
    assert.deepEqual(
      [expected.emails, expected.storm],
      [6, { digest: 6 }],
      "what processing really sends",
    );
    const { before, after } = report.summary.storm;
    assert.equal(after.emails, expected.emails);
    assert.equal(after.storm_emails.digest, expected.storm.digest);
    assert.deepEqual(after.suppressed, { realert: STORM_ALERTS - 6 });
    assert.equal(after.total, 12);
    assert.deepEqual(
      [before.emails, before.total, before.suppressed],
      [STORM_ALERTS, STORM_ALERTS, {}],
    );
    assert.deepEqual(report.summary.storm.pending, {});
    // Alert 3 (fingerprint 0, 90 s after alert 0) is folded into alert 0's window.
    const third = report.alerts[3];
    assert.equal(third.id, recorded.ids[3]);
    assert.deepEqual(third.before.storm, { decision: "notify" });
    assert.deepEqual(third.after.storm, {
      decision: "suppressed",
      suppressed_by: "realert",
      notified_id: recorded.ids[0],
    });
    assert.deepEqual(
      third.changes.map((c: { field: string }) => c.field),
      ["sent", "storm"],
    );
    assert.equal(
      report.alerts[0].changed,
      false,
      "the first email is as it was",
    );

    const text = await replay(ten);
    assert.equal(text.code, 0, shown(text));
    assert.ok(
      text.stdout.includes(
        `storm: 6 emails and 6 digests instead of ${STORM_ALERTS} emails; 34 suppressed (realert 34) instead of 0 suppressed\n`,
      ),
      text.stdout,
    );
    assert.ok(
      text.stdout.includes(
        `    storm: notify → suppressed by realert (notified ${
          recorded.ids[0]
        })\n`,
      ),
      text.stdout,
    );
    assert.deepEqual(await storeSnapshot(project.dataDir), untouched);
  } finally {
    await project.cleanup();
  }
});

Deno.test("replay of a storm recorded with storm control: the same config changes nothing, a new realert is predicted exactly", async () => {
  const start = stormStart();
  const project = await writeProject({ detectors: { [DETECTOR]: TEN } });
  try {
    const recorded = await playStorm(project, { start });
    const untouched = await storeSnapshot(project.dataDir);
    const replay = (config: string) =>
      runTask(
        "replay",
        ["--config", config, "--json", "--fail-on", "changed"],
        {
          cwd: project.dir,
          env: project.env,
        },
      );

    const same = await replay("blitz.yaml");
    assert.equal(same.code, 0, shown(same));
    const unchanged = JSON.parse(same.stdout).summary;
    assert.equal(unchanged.changed, 0);
    assert.deepEqual(unchanged.storm.before, {
      emails: 6,
      storm_emails: { digest: 6, group: 0, silence_end: 0 },
      suppressed: { realert: STORM_ALERTS - 6 },
      total: 12,
    });
    assert.deepEqual(
      [unchanged.storm.after.emails, unchanged.storm.after.storm_emails.digest],
      [6, 6],
    );

    const five = await writeVariant(project, "five", { [DETECTOR]: FIVE });
    const run = await replay(five);
    assert.equal(run.code, 1, shown(run));
    const report = JSON.parse(run.stdout);
    const expected = await mailedBy(FIVE, start);
    const { after } = report.summary.storm;
    assert.equal(after.emails, expected.emails, run.stdout.slice(0, 2000));
    assert.equal(after.storm_emails.digest, expected.storm.digest ?? 0);
    assert.equal(
      after.suppressed.realert,
      STORM_ALERTS - expected.emails,
    );
    // Alert 12 (fingerprint 0, at 360 s): in the 10-minute window of alert 0, past the 5-minute one.
    const twelfth = report.alerts[12];
    assert.equal(Date.parse(twelfth.received_at), start + 12 * STEP_MS);
    assert.deepEqual(twelfth.before.storm, {
      decision: "suppressed",
      suppressed_by: "realert",
      notified_id: recorded.ids[0],
    });
    assert.deepEqual(twelfth.after.storm, { decision: "notify" });
    assert.match(twelfth.after.subject, /\(\+3 similar since \d\d:\d\d\)$/);
    assert.deepEqual(await storeSnapshot(project.dataDir), untouched);
  } finally {
    await project.cleanup();
  }
});
