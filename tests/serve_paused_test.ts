/**
 * `workers: 0` pauses processing: `blitz serve` still answers the durable 202 and stores the alerts,
 * sends none, and a restart with workers delivers them (also what the ingest-only benchmark runs).
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { parse, stringify } from "yaml";
import { startSmtpServer } from "./_smtp.ts";
import { writeProject } from "./_config.ts";
import { ingestRequest } from "./_ingest.ts";
import { startServe } from "./_serve.ts";

const TOKEN = `ingest-paused-${crypto.randomUUID()}`;

Deno.test("serve with workers: 0 stores alerts without processing them; a restart with workers delivers them", async () => {
  const smtp = await startSmtpServer();
  const project = await writeProject({
    global: {
      listen: "127.0.0.1:0",
      ingest_tokens: ["${env:BLITZ_INGEST_TOKEN}"],
      smtp: `${smtp.url}?ignore_tls=1`,
      workers: 0,
    },
    detectors: { t1: { subject: "Paused {n}", enrichments: [] } },
  });
  const start = () =>
    startServe({
      config: project.config,
      env: { ...project.env, BLITZ_INGEST_TOKEN: TOKEN },
      dirs: [project.dir],
      writeDirs: [project.dataDir],
    });
  try {
    const ids: string[] = [];
    {
      await using server = await start();
      for (const n of [1, 2]) {
        const res = await fetch(
          `${server.url}/ingest/t1`,
          ingestRequest(TOKEN, JSON.stringify({ n })),
        );
        assert.equal(res.status, 202);
        // serve answers ingest past the router: the same security headers as every route.
        assert.equal(res.headers.get("x-content-type-options"), "nosniff");
        assert.equal(res.headers.get("cache-control"), "no-store");
        assert.equal(res.headers.get("referrer-policy"), "no-referrer");
        assert.match(
          res.headers.get("content-type") ?? "",
          /^application\/json/,
        );
        ids.push(...((await res.json()) as { ids: string[] }).ids);
      }
      const refused = await fetch(
        `${server.url}/ingest/t1`,
        ingestRequest("not-the-token-at-all", JSON.stringify({ n: 3 })),
      );
      assert.equal(refused.status, 401);
      assert.equal(refused.headers.get("referrer-policy"), "no-referrer");
      assert.equal(refused.headers.get("x-content-type-options"), "nosniff");
      assert.match((await refused.json()).error, /Invalid token/);
      const unknown = await fetch(
        `${server.url}/ingest/nope`,
        ingestRequest(TOKEN, JSON.stringify({ n: 4 })),
      );
      assert.equal(unknown.status, 404);
      assert.equal(unknown.headers.get("cache-control"), "no-store");
      await unknown.body?.cancel();
      const health = await (await fetch(`${server.url}/healthz`)).json();
      assert.equal(health.workers, 0);
      assert.equal(health.processing, "paused");
      assert.equal(health.backlog, 2);
      await server.waitForLog((l) =>
        l.event === "listening" && typeof l.processing === "string"
      );
    }
    // Stopped: both alerts are on disk, still queued, nothing was mailed.
    const db = new DatabaseSync(`${project.dataDir}/blitz.db`, {
      readOnly: true,
    });
    const rows = db.prepare("SELECT id, status FROM alerts ORDER BY id").all();
    db.close();
    assert.deepEqual(
      rows.map((r) => [r.id, r.status]),
      [...ids].sort().map((id) => [id, "queued"]),
    );
    assert.equal(smtp.messages.length, 0);

    // The same store with workers: both are delivered.
    const config = parse(await Deno.readTextFile(project.config));
    await Deno.writeTextFile(
      project.config,
      stringify({ ...config, workers: 1 }),
    );
    await using server = await start();
    const mails = await smtp.waitFor(2, 20_000);
    assert.deepEqual(
      mails.map((m) => m.parsed.subject).sort(),
      ["Paused 1", "Paused 2"],
    );
    const health = await (await fetch(`${server.url}/healthz`)).json();
    assert.equal(health.processing, "running");
  } finally {
    await smtp.close();
    await project.cleanup();
  }
});
