/**
 * The project every service benchmark runs: one detector `bench` whose enrichment is a local plugin
 * (cached after its first call), the alert it receives, and the ingest token. `global` overrides the
 * global keys (e.g. `workers: 0` for ingest alone, `smtp` for end to end); `storm` adds a storm block.
 *
 * @module
 */
import { type TestProject, writeProject } from "../tests/_config.ts";

/** The ingest token of every bench service. */
export const TOKEN = `bench-token-${crypto.randomUUID()}`;

/** The alert of the benchmarks: an IDS alert of eight fields. */
export const BENCH_ALERT: Record<string, string | number> = {
  ip_src_addr: "192.0.2.10",
  param2: "SSH brute force",
  param3: "IDS: 312 failed SSH logins from 192.0.2.10 in 5 minutes",
  severity: "high",
  ip_dst_addr: "10.20.30.40",
  dst_port: 22,
  event_count: 312,
  sensor: "ids-dmz-01",
};

/** A written bench project; `env` carries the ingest token. */
export type BenchProject = TestProject;

/** Writes the bench project (see the module doc). */
export async function benchProject(
  global: Record<string, unknown> = {},
  options: { storm?: Record<string, unknown> } = {},
): Promise<BenchProject> {
  const project = await writeProject({
    global: {
      listen: "127.0.0.1:0",
      public_url: "https://blitz.bench.test",
      ingest_tokens: ["${env:BLITZ_INGEST_TOKEN}"],
      plugin_dirs: ["plugins"],
      rate_limit: "1000000/s burst 1000000",
      max_backlog: 1_000_000,
      enrichment_ttl: "1h",
      // workers and delivery.connections: the defaults (8 and 8), as an operator runs it
      ...global,
    },
    detectors: {
      bench: {
        subject: "Bench {ip_src_addr} {param2}",
        mail_title: "{param3}",
        include_json: true,
        enrichments: [{
          e_name: "Asset owner",
          e_func: "bench_owner",
          e_key: "ip_src_addr",
        }],
        ...(options.storm ? { storm: options.storm } : {}),
      },
    },
    files: {
      "plugins/bench_owner.ts": `export default {
  name: "bench_owner",
  positional: ["ip"],
  run: ({ ip }) => ({ ip, owner: "SOC team", site: "dmz", tags: ["server", "linux"] }),
};
`,
    },
  });
  return { ...project, env: { ...project.env, BLITZ_INGEST_TOKEN: TOKEN } };
}
