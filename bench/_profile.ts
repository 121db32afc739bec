/**
 * CPU per alert by stage, from V8 CPU profiles (`deno run --cpu-prof`) of the service: each sample's
 * time goes to the stage of the deepest frame on its stack that belongs to a stage (by file), so a
 * `JSON.parse` called from the body reader counts as ingest, a SQLite statement run by the claim as
 * claim, preact under the email as render. Frames of shared helpers (the pipeline's orchestration,
 * JSON, logging) are skipped over; a stack with no stage frame is "HTTP server" when Deno's HTTP
 * extension is on it, else "other JS". GC is its own line. Workers write profiles of their own, split
 * the same way: the checkpoint's copy of the WAL (`_checkpoint_thread.ts`) is "checkpoint thread".
 * The rest of the process's CPU (Rust I/O, fsync threads) is the difference to /proc's total.
 *
 * @module
 */

/** The stages the issue asks for, and the rest. */
export const STAGES = [
  "ingest",
  "claim",
  "enrich",
  "render",
  "SMTP",
  "record",
  "storm",
  "group commit",
  "HTTP server",
  "GC",
  "other JS",
  "checkpoint thread",
] as const;
export type Stage = typeof STAGES[number];

/** File rules, first match wins; `null` means "a shared helper: look further up the stack". */
const RULES: [RegExp, Stage | null][] = [
  [/\/routes\/(ingest|app)\.ts$|\/routes\/http\//, "ingest"],
  [/\/core\/auth\/auth\.ts$|\/core\/store\/sqlite\/_insert\.ts$/, "ingest"],
  [/\/core\/service\/_claim\.ts$|\/core\/store\/sqlite\/_lease\.ts$/, "claim"],
  [/\/core\/pipeline\/(enrich|limits)\.ts$|\/core\/plugins\//, "enrich"],
  [/\/core\/config\/conditions\.ts$|@marcbachmann\/cel-js/, "enrich"],
  [/\/emails\/|\/core\/pipeline\/_compose\.ts$|preact/, "render"],
  [/\/core\/auth\/tokens\.ts$|\/core\/template\.ts$/, "render"],
  // The SMTP client (`_smtp_conn.ts`) writes and reads through Deno.Conn from its own frames; MIME
  // building and nodemailer's address parser run under `core/delivery/` too.
  [/\/core\/delivery\/|nodemailer/, "SMTP"],
  [
    /\/core\/pipeline\/_record\.ts$|\/core\/store\/sqlite\/_update\.ts$/,
    "record",
  ],
  [/\/core\/service\/(queue|metrics)\.ts$/, "record"],
  [/\/core\/storm\//, "storm"],
  // Storm control's statements in the store (the decision's reads and writes, silences, timers).
  // Until the seventh pass these, and the outcome's UPDATE (run in sqlite.ts then), counted under
  // the group commit, whose frames were the nearest with a stage.
  [/\/core\/store\/(sqlite\/_storm(_sql)?|storm_[a-z]+)\.ts$/, "storm"],
  [/\/core\/store\/sqlite\/_(commit|wal_sync|checkpoint)\.ts$/, "group commit"],
  // The WAL's copy into the database file, on its own thread (a Worker's profile, beside the main one).
  [/\/core\/store\/sqlite\/_checkpoint_thread\.ts$/, "checkpoint thread"],
  [/\/node_modules\/.*hono/, "ingest"],
  [/^ext:deno_http|^ext:http/, null],
];

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Milliseconds of CPU per stage over every `.cpuprofile` in `dir` (idle excluded). */
export async function stageSplit(dir: string): Promise<Map<Stage, number>> {
  const totals = new Map<Stage, number>(STAGES.map((s) => [s, 0]));
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.name.endsWith(".cpuprofile")) continue;
    const profile = JSON.parse(
      await Deno.readTextFile(`${dir}/${entry.name}`),
    ) as Profile;
    const parent = new Map<number, number>();
    const byId = new Map<number, ProfileNode>();
    for (const node of profile.nodes) {
      byId.set(node.id, node);
      for (const child of node.children ?? []) parent.set(child, node.id);
    }
    const memo = new Map<number, Stage | "idle">();
    const stageOf = (id: number): Stage | "idle" => {
      const known = memo.get(id);
      if (known) return known;
      const leaf = byId.get(id)!.callFrame.functionName;
      // A worker thread blocked waiting for its next message shows as this op: a wait, not CPU.
      let stage: Stage | "idle" = leaf === "(idle)" ||
          leaf === "op_worker_maybe_wait_for_debugger"
        ? "idle"
        : leaf === "(garbage collector)"
        ? "GC"
        : "other JS";
      let http = false;
      if (stage === "other JS") {
        for (
          let at: number | undefined = id;
          at !== undefined;
          at = parent.get(at)
        ) {
          const url = byId.get(at)!.callFrame.url;
          const rule = RULES.find(([pattern]) => pattern.test(url));
          if (rule && rule[1] !== null) {
            stage = rule[1];
            break;
          }
          if (rule) http = true;
        }
        if (stage === "other JS" && http) stage = "HTTP server";
      }
      memo.set(id, stage);
      return stage;
    };
    // timeDeltas[i] is the time before sample i: it belongs to the sample before it.
    for (let i = 0; i < profile.samples.length; i++) {
      const delta = profile.timeDeltas[i + 1] ?? 0;
      const stage = stageOf(profile.samples[i]!);
      if (stage !== "idle") {
        totals.set(stage, totals.get(stage)! + delta / 1000);
      }
    }
  }
  return totals;
}
