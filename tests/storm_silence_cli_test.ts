/**
 * `deno task silence add|list|expire` as a child process with the task's own permissions (issue 11),
 * against a temp project's store, then an alert through the pipeline to see the silence hold.
 */
import assert from "node:assert/strict";
import { writeProject } from "./_config.ts";
import { runTask, shown } from "./_task.ts";
import { ingestAlert } from "../core/pipeline/pipeline.ts";
import { closeRuntime, createRuntime } from "../core/service/runtime.ts";

Deno.test("silence add, list, expire: the task with its own permissions; the silence holds alerts back", async () => {
  const project = await writeProject({
    detectors: {
      ids: { subject: "IDS {src_ip}", enrichments: [] },
      waf: { subject: "WAF {src_ip}", enrichments: [] },
    },
  });
  const run = (...args: string[]) =>
    runTask("silence", args, {
      cwd: project.dir,
      env: { ...project.env, USER: "carol" },
    });
  try {
    const added = await run(
      "add",
      "ids",
      "--match",
      'alert.src_ip == "203.0.113.7"',
      "--for",
      "4h",
      "--comment",
      "pentest",
    );
    assert.equal(added.code, 0, shown(added));
    const id = added.stdout.split(/\s+/)[0]!;
    assert.match(
      added.stdout,
      /ids .* by carol {2}0 suppressed {2}alert\.src_ip == "203\.0\.113\.7" {2}"pentest"/,
    );

    const listed = await run("list", "--json");
    assert.equal(listed.code, 0, shown(listed));
    const [silence] = listed.stdout.trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assert.equal(silence.id, id);
    assert.equal(
      Date.parse(silence.ends_at) - Date.parse(silence.starts_at),
      4 * 3_600_000,
    );

    const runtime = await createRuntime({
      configPath: project.config,
      env: (name) => project.env[name],
      log: () => {},
    });
    try {
      const held = await ingestAlert(runtime, "ids", { src_ip: "203.0.113.7" });
      assert.equal(held.suppressed_by, "silence");
      assert.equal(
        (await ingestAlert(runtime, "ids", { src_ip: "198.51.100.1" })).sent,
        true,
        "the match decides",
      );
      assert.equal(
        (await ingestAlert(runtime, "waf", { src_ip: "203.0.113.7" })).sent,
        true,
        "another detector is not silenced",
      );
    } finally {
      await closeRuntime(runtime);
    }

    const expired = await run("expire", id);
    assert.equal(expired.code, 0, shown(expired));
    const again = await run("expire", id);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already ended/);
    const none = await run("list");
    assert.equal(none.stdout, "");
    assert.match(none.stderr, /no active silences/);
    const all = await run("list", "--all");
    assert.match(all.stdout, /1 suppressed .*\(expired early\)/);
  } finally {
    await project.cleanup();
  }
});

Deno.test("silence add: bad input names the flag and the fix, exit 2, nothing stored", async () => {
  const project = await writeProject({
    detectors: { ids: { subject: "IDS", enrichments: [] } },
  });
  const run = (...args: string[]) =>
    runTask("silence", args, { cwd: project.dir, env: project.env });
  try {
    const cases: [string[], RegExp][] = [
      [["add", "ids"], /--for: a silence needs an end/],
      [
        ["add", "ids", "--for", "31d"],
        /--for: must be more than 0 and at most 30d/,
      ],
      [["add", "ids", "--for", "soon"], /--for: Invalid duration "soon"/],
      [
        ["add", "ids", "--for", "1h", "--match", "alert.x =="],
        /--match: Invalid CEL condition/,
      ],
      [
        ["add", "isd", "--for", "1h"],
        /unknown detector "isd" \(known: ids; or \* for every detector\)/,
      ],
      [
        ["add", "ids", "--fro", "1h"],
        /Unknown option "--fro" for silence; did you mean "--for"\?/,
      ],
      [
        ["ad", "ids"],
        /expected add, list or expire, not "ad"; did you mean "add"\?/,
      ],
    ];
    for (const [args, message] of cases) {
      const out = await run(...args);
      assert.equal(out.code, 2, shown(out));
      assert.match(out.stderr, message, shown(out));
    }
    const listed = await run("list", "--all");
    assert.equal(listed.stdout, "");
  } finally {
    await project.cleanup();
  }
});
