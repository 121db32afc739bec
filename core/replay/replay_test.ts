/** replayAlerts(): alert-time order, the clock at each alert's received_at, and extra steps' decisions. */
import assert from "node:assert/strict";
import { writeProject } from "../../tests/_config.ts";
import { silentLogger } from "../log.ts";
import { closeRuntime, createRuntime } from "../service/runtime.ts";
import type { AlertRecord } from "../store/store.ts";
import { replayAlerts, type ReplayStep } from "./replay.ts";

function record(id: string, receivedAt: string): AlertRecord {
  return {
    id,
    detector: "d",
    received_at: receivedAt,
    updated_at: receivedAt,
    status: "delivered",
    alert: { ip: "192.0.2.1" },
    attempts: 1,
    subject: "S 192.0.2.1",
    to: ["soc@example.test"],
    cc: [],
    condition: null,
    enrichments: [],
    actions: [],
  };
}

Deno.test("replayAlerts() replays in alert-time order with the clock at each alert, and counts step decisions", async () => {
  // No action keys: the config then needs no environment variable (createRuntime reads the process's).
  const project = await writeProject({
    global: { action_keys: undefined },
    detectors: { d: { subject: "S {ip}" } },
  });
  const runtime = await createRuntime({
    configPath: project.config,
    log: silentLogger,
    io: false,
  });
  try {
    const seen: string[] = [];
    let last = -Infinity;
    // A storm-like step: within 10 minutes of the previous alert it is folded into a digest.
    const storm: ReplayStep = {
      name: "storm",
      decide({ runtime, record }) {
        const now = runtime.clock!().getTime();
        seen.push(`${record.id}@${new Date(now).toISOString()}`);
        const decision = now - last < 600_000 ? "digest" : "email";
        last = now;
        return Promise.resolve({ decision });
      },
    };
    const report = await replayAlerts(runtime, [
      record("c", "2026-12-01T10:08:00.000Z"),
      record("a", "2026-12-01T10:00:00.000Z"),
      record("d", "2026-12-01T11:00:00.000Z"),
      record("b", "2026-12-01T10:05:00.000Z"),
    ], { steps: [storm] });
    assert.deepEqual(seen, [
      "a@2026-12-01T10:00:00.000Z",
      "b@2026-12-01T10:05:00.000Z",
      "c@2026-12-01T10:08:00.000Z",
      "d@2026-12-01T11:00:00.000Z",
    ]);
    assert.deepEqual(report.alerts.map((a) => a.after.decisions.storm), [
      "email",
      "digest",
      "digest",
      "email",
    ]);
    assert.deepEqual(report.summary.decisions, {
      storm: { email: 2, digest: 2 },
    });
    assert.equal(
      report.summary.changed,
      0,
      "a decision with nothing recorded to compare is not a change",
    );
  } finally {
    await closeRuntime(runtime);
    await project.cleanup();
  }
});
