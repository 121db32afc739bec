/**
 * A poison pill (issue 16 item 1): an alert whose processing kills `blitz serve` every time is
 * quarantined as `failed`, with the reason, after 3 interrupted attempts, instead of being requeued and
 * crashing the service at every start. The crash is a SIGKILL while the alert's enrichment runs.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { writeProject } from "./_config.ts";
import { ingestRequest } from "./_ingest.ts";
import { startServe } from "./_serve.ts";

const TOKEN = `ingest-${crypto.randomUUID()}`;

Deno.test("serve quarantines an alert interrupted by a crash 3 times as failed, and stays up (issue 16 item 1)", async () => {
  const project = await writeProject({
    global: {
      listen: "127.0.0.1:0",
      ingest_tokens: ["${env:BLITZ_INGEST_TOKEN}"],
      plugin_dirs: ["plugins"],
      enrichment_timeout: "10m",
    },
    detectors: {
      pill: {
        subject: "Pill {n}",
        enrichments: [{ e_name: "Hang", e_func: "hang", e_key: "n" }],
      },
    },
    files: {
      "plugins/hang.ts":
        `/** Never answers: the test kills serve while it runs. */\nexport default { name: "hang", positional: ["n"], run: () => new Promise(() => {}) };\n`,
    },
  });
  const start = () =>
    startServe({
      config: project.config,
      env: { ...project.env, BLITZ_INGEST_TOKEN: TOKEN },
      dirs: [project.dir],
      writeDirs: [project.dataDir],
    });
  try {
    let server = await start();
    const res = await fetch(
      `${server.url}/ingest/pill`,
      ingestRequest(TOKEN, '{"n":"1"}'),
    );
    assert.equal(res.status, 202);
    const [id] = (await res.json()).ids as string[];
    const status = () => {
      const db = new DatabaseSync(`${project.dataDir}/blitz.db`, {
        readOnly: true,
      });
      try {
        return db.prepare("SELECT status, last_error FROM alerts WHERE id = ?")
          .get(id!) as { status: string; last_error: string | null };
      } finally {
        db.close();
      }
    };
    for (let crash = 1; crash <= 3; crash++) {
      // Processing has started (the enrichment hangs), then the service dies.
      const deadline = Date.now() + 20_000;
      while (status().status !== "processing" && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.equal(status().status, "processing", `before crash ${crash}`);
      await server.stop("SIGKILL");
      server = await start();
    }
    // The fourth start quarantines it instead of running it again.
    const row = status();
    assert.equal(row.status, "failed");
    assert.match(
      row.last_error ?? "",
      /^Quarantined: its processing was interrupted 3 times in a row/,
    );
    // …and says so in its log: one structured line with the alert, detector, attempts and reason.
    const line = server.logs.find((l) => l.event === "quarantined");
    assert.ok(line, `a quarantined line in:\n${server.stderr()}`);
    assert.equal(line.alert_id, id);
    assert.equal(line.detector, "pill");
    assert.equal(line.attempts, 3);
    assert.equal(line.reason, row.last_error);
    assert.equal(
      server.logs.filter((l) => l.event === "quarantined").length,
      1,
    );
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
    await server.stop("SIGKILL");
  } finally {
    await project.cleanup();
  }
});
