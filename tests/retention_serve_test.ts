/**
 * Retention inside a running `serve` (not only the job in isolation): old finished alerts lose their
 * bodies and emails on the job's schedule, recent ones and the audit trail stay, and the run is
 * reported in the log and the metrics.
 */
import assert from "node:assert/strict";
import { openSqliteStore } from "../core/store/sqlite/sqlite.ts";
import { writeProject } from "./_config.ts";
import { startServe } from "./_serve.ts";

Deno.test("serve runs retention on its schedule: old bodies and emails go, recent ones and rows stay", async () => {
  const project = await writeProject({
    global: {
      listen: "127.0.0.1:0",
      ingest_tokens: ["${env:BLITZ_INGEST_TOKEN}"],
      retention: { alerts: "10d", emails: "10d", every: "1s" },
    },
    detectors: { d: { subject: "S" } },
  });
  try {
    const day = 86_400_000;
    const message = {
      from: "blitz@example.test",
      to: ["soc@example.test"],
      cc: [],
      subject: "S",
      html: "<p>" + "x".repeat(5_000) + "</p>",
      text: "x",
      message_id: "<m@example.test>",
    };
    const store = openSqliteStore(`${project.dataDir}/blitz.db`);
    try {
      await store.insertAlerts(
        ["old-1", "old-2", "new-1"].map((id) => ({
          id,
          detector: "d",
          alert: { secret_evidence: id },
          received_at: new Date(
            Date.now() - (id.startsWith("old") ? 40 : 1) * day,
          ).toISOString(),
          status: "delivered" as const,
        })),
      );
      for (const id of ["old-1", "old-2", "new-1"]) {
        await store.updateAlert(id, { message, subject: `S ${id}` });
      }
    } finally {
      await store.close();
    }

    await using server = await startServe({
      config: project.config,
      env: {
        ...project.env,
        BLITZ_INGEST_TOKEN: "retention-test-token-0123456789",
      },
      dirs: [project.dir],
      writeDirs: [project.dataDir],
    });
    const line = await server.waitForLog(
      (l) => l.event === "retention_purged" && Number(l.alerts) > 0,
      20_000,
    );
    assert.equal(line.alerts, 2);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /blitz_retention_purged_total\{kind="alerts"\} 2/);
    await server.stop();

    const after = openSqliteStore(`${project.dataDir}/blitz.db`);
    try {
      const recent = await after.getAlert("new-1");
      assert.deepEqual(recent?.alert, { secret_evidence: "new-1" });
      assert.equal(recent?.message?.html, message.html);
      for (const id of ["old-1", "old-2"]) {
        const old = await after.getAlert(id);
        assert.ok(old, `the row of ${id} stays`);
        assert.equal(old.subject, `S ${id}`, "the audit trail stays");
        assert.equal(old.status, "delivered");
        assert.doesNotMatch(JSON.stringify(old.alert ?? {}), /old-/);
        assert.equal(old.message?.html, undefined, "the email is cleared");
      }
    } finally {
      await after.close();
    }
  } finally {
    await project.cleanup();
  }
});
