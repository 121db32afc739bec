/**
 * A recorded storm for replay tests: 40 Suricata-like alerts over 3 fingerprints (one every 30 s,
 * round robin, so each fingerprint fires every 90 s for ~20 minutes, three hours before now), played
 * through the real pipeline on an injected clock with serve's storm timers run before each alert and
 * once more at the end (now). It returns what was mailed, by kind, so a replay's prediction can be
 * checked against what processing really did (`mailedBy`: the same storm through a config of its
 * own). Also: a changed copy of a project's config (its own detectors folder) for `replay --config`,
 * and a snapshot of a SQLite store's bytes, rows and outbox (a replay must leave it as it was).
 *
 * @module
 */
import { stringify } from "yaml";
import { ingestAlert } from "../core/pipeline/pipeline.ts";
import { silentLogger } from "../core/log.ts";
import { closeRuntime, createRuntime } from "../core/service/runtime.ts";
import { StormJob } from "../core/service/storm_job.ts";
import type { Store } from "../core/store/store.ts";
import { type TestProject, writeProject } from "./_config.ts";
import { openSqliteReader } from "../core/store/sqlite/sqlite.ts";
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
 * storm timers due by `end` (default: now). `setup` runs on the store first (a silence, say),
 * `before` before each alert.
 */
export async function playStorm(
  project: TestProject,
  options: {
    start: number;
    end?: number;
    setup?: (store: Store) => Promise<unknown>;
    /** Alert `n`. @default stormAlert */
    alert?: (n: number) => Record<string, unknown>;
    /** Runs before alert `n` is ingested, on the clock's time then (an ack, say). */
    before?: (
      n: number,
      context: { store: Store; ids: string[]; at: Date },
    ) => Promise<unknown>;
  },
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
    await options.setup?.(runtime.store);
    for (let n = 0; n < STORM_ALERTS; n++) {
      time = options.start + n * STEP_MS;
      await job.runDue();
      await options.before?.(n, {
        store: runtime.store,
        ids: mailed.ids,
        at: new Date(time),
      });
      const summary = await ingestAlert(
        runtime,
        DETECTOR,
        (options.alert ?? stormAlert)(n),
      );
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

/**
 * A silence of fingerprint 1's source address from 5 to 15 minutes into the storm, as an operator
 * made it (created at its start).
 */
export function addStormSilence(store: Store, start: number) {
  return store.storm.addSilence({
    id: "silence-replay-1",
    detector: DETECTOR,
    match: 'alert.src_ip == "198.51.100.11"',
    starts_at: new Date(start + 5 * 60_000).toISOString(),
    ends_at: new Date(start + 15 * 60_000).toISOString(),
    created_by: "analyst@example.test",
    comment: "scanner under investigation",
  }, new Date(start + 5 * 60_000));
}

/**
 * Writes `<name>.yaml` beside the project's config, reading detectors from `<name>/`, with `global`
 * keys added.
 */
export async function writeVariant(
  project: TestProject,
  name: string,
  detectors: Record<string, Record<string, unknown>>,
  global: Record<string, unknown> = {},
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
  await Deno.writeTextFile(
    `${project.dir}/${name}.yaml`,
    Object.keys(global).length ? `${config}\n${stringify(global)}` : config,
  );
  return `${name}.yaml`;
}

/** What processing the storm with `detector` really mails (a project of its own, same clock). */
export async function mailedBy(
  detector: Record<string, unknown>,
  start: number,
  global: Record<string, unknown> = {},
  alert?: (n: number) => Record<string, unknown>,
): Promise<Mailed> {
  const project = await writeProject({
    global,
    detectors: { [DETECTOR]: detector },
  });
  try {
    return await playStorm(project, { start, ...(alert ? { alert } : {}) });
  } finally {
    await project.cleanup();
  }
}

async function sha256(path: string): Promise<string> {
  const bytes = await Deno.readFile(path).catch(() => new Uint8Array());
  const hash = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(hash), (b) => b.toString(16)).join("");
}

/** A SQLite store's files' hashes, its row counts, and the outbox's files. */
export async function storeSnapshot(dataDir: string): Promise<unknown> {
  const files = await Promise.all(
    ["blitz.db", "blitz.db-wal"].map((f) => sha256(`${dataDir}/${f}`)),
  );
  const reader = openSqliteReader(`${dataDir}/blitz.db`);
  const rows = ["alerts", "storm_windows", "storm_timers", "silences"].map(
    (t) => reader.count(t),
  );
  reader.close();
  const outbox = [...Deno.readDirSync(`${dataDir}/outbox`)].map((e) => e.name)
    .sort();
  return { files, rows, outbox };
}
