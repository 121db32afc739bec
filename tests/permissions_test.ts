/**
 * Permission errors are config errors: a config or data_dir outside what the task may read or write is
 * named with the flag and the layout that grants it, exit 2, no stack trace. And the runtime tasks are
 * quiet: with node_modules installed, `deno task check` prints nothing on stderr but deno's own
 * "Task check …" line.
 */
import assert from "node:assert/strict";
import { writeProject } from "./_config.ts";
import { ROOT, runTask, shown } from "./_task.ts";

const STACK = /^\s+at /m;

Deno.test("check --config outside the project folder says which path and which flag, exit 2", async () => {
  const project = await writeProject();
  const outside = await Deno.makeTempDir({ prefix: "blitz_outside_" });
  try {
    await Deno.copyFile(project.config, `${outside}/blitz.yaml`);
    const run = await runTask("check", ["--config", `${outside}/blitz.yaml`], {
      cwd: project.dir,
      env: project.env,
    });
    assert.equal(run.code, 2, shown(run));
    assert.doesNotMatch(run.stderr, STACK);
    const lines = run.stderr.trim().split("\n");
    assert.equal(lines.length, 1, shown(run));
    assert.equal(
      lines[0],
      `error: ${outside}/blitz.yaml: (root): cannot read: Blitz may not read "${outside}/blitz.yaml" (--allow-read): ` +
        `the deno tasks read only the project folder (--allow-read=.), so keep config, detectors and plugins inside it; ` +
        `for /etc/blitz and /var/lib/blitz install Blitz (deploy/install.sh: the launcher /opt/blitz/blitz; README "Installing on a SOC host"), ` +
        `or run deno run with --allow-read=<folder>`,
    );
  } finally {
    await project.cleanup();
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("ingest with a data_dir outside ./data is a config error naming data_dir, exit 2, nothing written", async () => {
  const outside = await Deno.makeTempDir({ prefix: "blitz_data_" });
  await Deno.remove(outside);
  const project = await writeProject({
    global: { data_dir: outside },
    detectors: { d: { subject: "S {x}" } },
  });
  try {
    const run = await runTask("ingest", ["d", "--config", project.config], {
      cwd: project.dir,
      env: project.env,
      stdin: '{"x": 1}',
    });
    assert.equal(run.code, 2, shown(run));
    assert.doesNotMatch(run.stderr, STACK);
    assert.equal(run.stdout, "");
    const lines = run.stderr.trim().split("\n");
    assert.equal(lines.length, 1, shown(run));
    assert.ok(
      lines[0]!.startsWith(
        `error: ${project.config}: data_dir: Blitz may not write to "${outside}" (--allow-write): ` +
          "the deno tasks write only ./data (--allow-write=./data), so use data_dir: data;",
      ),
      lines[0]!,
    );
    await assert.rejects(Deno.stat(outside), Deno.errors.NotFound);
  } finally {
    await project.cleanup();
  }
});

Deno.test("deno task check is quiet once node_modules is installed: stderr holds only deno's Task line", async () => {
  const child = await new Deno.Command(Deno.execPath(), {
    args: ["task", "check"],
    cwd: ROOT,
    env: {
      NO_COLOR: "1",
      BLITZ_ACTION_KEY: "quiet-test-key-0123456789abcdef",
      JIRA_USER: "demo",
      JIRA_TOKEN: "demo",
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(child.stderr);
  const stdout = new TextDecoder().decode(child.stdout);
  assert.equal(child.code, 0, stderr);
  assert.match(stdout, /^ok: /);
  assert.deepEqual(
    stderr.trim().split("\n").filter((line) => !line.startsWith("Task check ")),
    [],
    stderr,
  );
});
