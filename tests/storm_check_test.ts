/**
 * `deno task check` and storm control (issue 11): a changed fingerprint definition starts new
 * windows, and check says so, naming the old and the new paths; the task runs with its own
 * permissions against a temp project's store.
 */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { writeProject } from "./_config.ts";
import { runTask, shown } from "./_task.ts";
import { ingestAlert } from "../core/pipeline/pipeline.ts";
import { closeRuntime, createRuntime } from "../core/service/runtime.ts";

Deno.test("check warns when a detector's fingerprint changed since its stored windows", async () => {
  const project = await writeProject({
    detectors: {
      ids: {
        subject: "IDS {src_ip}",
        enrichments: [],
        storm: { fingerprint: ["src_ip"] },
      },
    },
  });
  const check = () =>
    runTask("check", [], { cwd: project.dir, env: project.env });
  try {
    const runtime = await createRuntime({
      configPath: project.config,
      env: (name) => project.env[name],
      log: () => {},
    });
    try {
      await ingestAlert(runtime, "ids", { src_ip: "192.0.2.1" });
    } finally {
      await closeRuntime(runtime);
    }
    const same = await check();
    assert.equal(same.code, 0, shown(same));
    assert.doesNotMatch(same.stderr, /storm\.fingerprint/);

    await Deno.writeTextFile(
      `${project.dir}/detectors/ids.yaml`,
      stringify({
        ids: {
          subject: "IDS {src_ip}",
          enrichments: [],
          storm: { fingerprint: ["src_ip", "dest_ip"] },
        },
      }),
    );
    const changed = await check();
    assert.equal(changed.code, 0, shown(changed));
    assert.match(
      changed.stderr,
      /warning: .*detectors\/ids\.yaml: ids\.storm\.fingerprint: changed from \[src_ip\] to \[src_ip, dest_ip\]: alerts start new windows/,
    );
  } finally {
    await project.cleanup();
  }
});
