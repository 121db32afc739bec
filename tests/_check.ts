/**
 * `blitz check` as a child process with the check task's own permissions, in a throwaway project.
 *
 * @module
 */
import assert from "node:assert/strict";
import { writeProject } from "./_config.ts";
import { runTask, shown, type TaskRun } from "./_task.ts";

/** Runs `check --config blitz.yaml` in a project with these detectors, global keys and raw files. */
export async function check(
  options: Parameters<typeof writeProject>[0],
): Promise<TaskRun & { dir: string }> {
  const project = await writeProject(options);
  try {
    const run = await runTask("check", ["--config", "blitz.yaml"], {
      cwd: project.dir,
      env: project.env,
    });
    return { ...run, dir: project.dir };
  } finally {
    await project.cleanup();
  }
}

/** The `error: …` lines of a run that must have failed with exit 2, with the temp folder as `<dir>`. */
export function errors(run: TaskRun & { dir: string }): string[] {
  assert.equal(run.code, 2, shown(run));
  assert.equal(run.stdout, "", "no ok line");
  return run.stderr.split("\n").filter((l) => l.startsWith("error: "))
    .map((l) => l.replaceAll(run.dir, "<dir>"));
}
