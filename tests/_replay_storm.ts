/**
 * A recorded storm for replay tests: 40 Suricata-like alerts over 3 fingerprints (one every 30 s,
 * round robin, so each fingerprint fires every 90 s for ~20 minutes, three hours before now), played
 * through the real pipeline on an injected clock with serve's storm timers run before each alert and
 * once more at the end (now). It returns what was mailed, by kind, so a replay's prediction can be
 * checked against what processing really did. Also: a changed copy of a project's config (its own
 * detectors folder) for `replay --config`.
 *
 * @module
 */
import { stringify } from "yaml";
import { ingestAlert } from "../core/pipeline/pipeline.ts";
import { silentLogger } from "../core/log.ts";
import { closeRuntime, createRuntime } from "../core/service/runtime.ts";
import { StormJob } from "../core/service/storm_job.ts";
import type { TestProject } from "./_config.ts";
import { suricata } from "./_storm.ts";

/** Alerts in the storm. */
export const STORM_ALERTS = 40;
/** Between two alerts. */
export const STEP_MS = 30_000;
/** The detector's name. */
export const DETECTOR = "ids";

/** The storm's first alert: three hours ago, on a whole minute. */
export function stormStart(): number {
  return Math.floor((Date.now() - 3 * 3_600_000) / 60_000) * 60_000;
}

/** Alert `n` of the storm: fingerprint n % 3. */
export function stormAlert(n: number): Record<string, unknown> {
  const k = n % 3;
  return suricata(2_000 + k, `198.51.100.${10 + k}`, { n });
}

/** A detector config with `storm` (or none), the storm's fingerprint. */
export function stormDetector(
  storm?: Record<string, unknown>,
): Record<string, unknown> {
  return {
    subject: "IDS {alert.signature} from {src_ip}",
    ...(storm
      ? { storm: { fingerprint: ["alert.signature_id", "src_ip"], ...storm } }
      : {}),
  };
}

/** What processing mailed: the alerts' own emails, and storm emails by kind. */
export interface Mailed {
  ids: string[];
  emails: number;
  storm: Record<string, number>;
}

/**
 * Plays the storm into `project`'s store (its `blitz.yaml`, whatever `store` it names) and runs the
 * storm timers due by `end` (default: now).
 */
export async function playStorm(
  project: TestProject,
  options: { start: number; end?: number },
): Promise<Mailed> {
  let time = options.start;
  const runtime = await createRuntime({
    configPath: project.config,
    env: (name) => project.env[name],
    log: silentLogger,
    clock: () => new Date(time),
  });
  const mailed: Mailed = { ids: [], emails: 0, storm: {} };
  runtime.onStormEmail = (_detector, kind) =>
    void (mailed.storm[kind] = (mailed.storm[kind] ?? 0) + 1);
  const job = new StormJob(runtime);
  try {
    for (let n = 0; n < STORM_ALERTS; n++) {
      time = options.start + n * STEP_MS;
      await job.runDue();
      const summary = await ingestAlert(runtime, DETECTOR, stormAlert(n));
      mailed.ids.push(summary.alert_id);
      if (summary.sent && !summary.suppressed_by) mailed.emails++;
    }
    time = options.end ?? Date.now();
    await job.runDue();
  } finally {
    await closeRuntime(runtime);
  }
  return mailed;
}

/** Writes `<name>.yaml` beside the project's config, reading detectors from `<name>/`. */
export async function writeVariant(
  project: TestProject,
  name: string,
  detectors: Record<string, Record<string, unknown>>,
): Promise<string> {
  await Deno.mkdir(`${project.dir}/${name}`, { recursive: true });
  for (const [detector, config] of Object.entries(detectors)) {
    await Deno.writeTextFile(
      `${project.dir}/${name}/${detector}.yaml`,
      stringify({ [detector]: config }),
    );
  }
  const config = (await Deno.readTextFile(project.config)).replace(
    /^detectors_dir: .*$/m,
    `detectors_dir: ${name}`,
  );
  await Deno.writeTextFile(`${project.dir}/${name}.yaml`, config);
  return `${name}.yaml`;
}
