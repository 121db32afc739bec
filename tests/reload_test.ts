/**
 * SIGHUP reloads `blitz serve`'s config (a child process with the serve task's flags): a valid change
 * applies to the next alert; an invalid one is logged with its problem and the running config stays.
 */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { writeProject } from "./_config.ts";
import { type ServeProcess, startServe } from "./_serve.ts";

const TOKEN = `reload-token-${crypto.randomUUID()}`;

async function ingest(server: ServeProcess, body: unknown): Promise<string> {
  const res = await fetch(`${server.url}/ingest/d`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${TOKEN}`,
      "content-type": "application/json",
    },
    body: JSON.stringify(body),
  });
  const answer = await res.json();
  assert.equal(res.status, 202, JSON.stringify(answer));
  const id = answer.ids[0] as string;
  await server.waitForLog(
    (l) => l.event === "delivered" && l.alert_id === id,
    20_000,
  );
  return id;
}

async function subjectOf(dataDir: string, id: string): Promise<string> {
  const eml = await Deno.readTextFile(`${dataDir}/outbox/${id}.eml`);
  return /^Subject: (.*)\r$/m.exec(eml)![1]!;
}

Deno.test("SIGHUP applies a valid config to new alerts and keeps the running one on an error", async () => {
  const project = await writeProject({
    global: {
      listen: "127.0.0.1:0",
      ingest_tokens: ["${env:BLITZ_INGEST_TOKEN}"],
    },
    detectors: { d: { subject: "First {x}" } },
  });
  const detectorFile = `${project.dir}/detectors/d.yaml`;
  try {
    await using server = await startServe({
      config: project.config,
      env: { ...project.env, BLITZ_INGEST_TOKEN: TOKEN },
      dirs: [project.dir],
      writeDirs: [project.dataDir],
    });
    assert.equal(
      await subjectOf(project.dataDir, await ingest(server, { x: 1 })),
      "First 1",
    );

    await Deno.writeTextFile(
      detectorFile,
      stringify({ d: { subject: "Second {x}" } }),
    );
    server.child.kill("SIGHUP");
    const reloaded = await server.waitForLog((l) =>
      l.event === "config_reloaded"
    );
    assert.deepEqual(reloaded.restart_needed, []);
    assert.equal(
      await subjectOf(project.dataDir, await ingest(server, { x: 2 })),
      "Second 2",
    );

    // A typo'd key: logged with the file and path, the running config ("Second") stays.
    await Deno.writeTextFile(
      detectorFile,
      stringify({ d: { subjekt: "Third {x}" } }),
    );
    server.child.kill("SIGHUP");
    const failed = await server.waitForLog((l) =>
      l.event === "config_reload_failed"
    );
    assert.equal(failed.level, "error");
    const problems = failed.problems as string[];
    assert.ok(
      problems.some((p) =>
        p.startsWith(`${detectorFile}: d`) && p.includes("subjekt")
      ),
      problems.join("\n"),
    );
    assert.equal(
      await subjectOf(project.dataDir, await ingest(server, { x: 3 })),
      "Second 3",
    );

    // A change that needs a restart is named, and the running value is kept.
    await Deno.writeTextFile(
      detectorFile,
      stringify({ d: { subject: "Fourth {x}" } }),
    );
    await Deno.writeTextFile(
      project.config,
      `workers: 3\nplugin_memory_mb: 256\n`,
      { append: true },
    );
    server.child.kill("SIGHUP");
    const partial = await server.waitForLog((l) =>
      l.event === "config_reloaded" && (l.restart_needed as string[]).length > 0
    );
    assert.deepEqual(partial.restart_needed, ["workers", "plugin_memory_mb"]);
    assert.equal(
      await subjectOf(project.dataDir, await ingest(server, { x: 4 })),
      "Fourth 4",
    );
    assert.equal((await server.stop()).code, 0);
  } finally {
    await project.cleanup();
  }
});
