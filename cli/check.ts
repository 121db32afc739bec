/** `blitz check`: validates the global config and every detector. */
import { type CliArgs, type Command, CONFIG_OPTION } from "./command.ts";
import { loadConfig, type LoadedConfig } from "../core/config/config.ts";
import { ConfigError, InputError } from "../core/errors.ts";
import { parseJson } from "../core/json.ts";
import { loadRegistry, type PluginRegistry } from "../core/plugins/registry.ts";
import { checkPluginConfigs } from "../core/pipeline/plugin_checks.ts";
import { redact } from "../core/secrets.ts";
import { checkSample } from "../core/pipeline/sample.ts";
import { openSqliteReader } from "../core/store/sqlite/sqlite.ts";
import { definitionHash } from "../core/storm/storm.ts";
import { join } from "../core/paths.ts";

const command: Command = {
  options: {
    ...CONFIG_OPTION,
    sample: {
      type: "string",
      multiple: true,
      description:
        "<detector>=<alert.json>: render the detector against a sample, send nothing (repeatable)",
    },
  },
  positionals: [],
  usage:
    `Usage: blitz check [--config <path>] [--sample <detector>=<alert.json> …]

Validates the global config, every plugin in plugin_dirs and every detector (schema, CEL conditions,
enrichment and action names, colors, signing keys). Prints each problem as
"<file>: <detector>.<path>: <message>" and exits 2, or prints a summary and exits 0.

--sample <detector>=<alert.json> (repeatable) also runs the detector over that alert as ingest would
(split, preprocess, severity, conditions, side-effect-free send actions, the email), without running
enrichments, sending or recording anything, and reports what would fail later: placeholders left
unfilled, conditions that error, CEL paths, fingerprint, thread or id paths the sample does not have.`,

  async run(args: CliArgs): Promise<number> {
    let registry: PluginRegistry | undefined;
    const config = await loadConfig({
      path: args.config,
      registry: async (g) => (registry = await loadRegistry(g.plugin_dirs, {
        memoryMb: g.plugin_memory_mb,
      })),
    });
    for (const warning of config.warnings) {
      console.error(redact(`warning: ${warning}`));
    }
    for (const warning of fingerprintChanges(config)) {
      console.error(redact(`warning: ${warning}`));
    }
    // What the detectors give their plugins, checked by each plugin's own check hook.
    const problems = await checkPluginConfigs(config, registry!);
    if (problems.length) throw new ConfigError(problems);
    const detectors = [...config.detectors.values()];
    const enrichments = detectors.reduce(
      (n, d) => n + d.blocks.reduce((m, b) => m + b.entries.length, 0),
      0,
    );
    const buttons = detectors.reduce(
      (n, d) => n + d.config.actions.reply.length,
      0,
    );
    console.log(
      `ok: ${config.file}: ${detectors.length} detector(s) (${
        detectors.map((d) => d.name).join(", ")
      }), ` +
        `${enrichments} enrichment(s), ${buttons} reply button(s)`,
    );
    const samples = args.flags.sample;
    if (Array.isArray(samples) && samples.length > 0) {
      return await checkSamples(config, registry!, samples);
    }
    return 0;
  },
};

/** `--sample` runs: one summary line per alert on stdout, each finding on stderr; 2 when any. */
async function checkSamples(
  config: LoadedConfig,
  registry: PluginRegistry,
  samples: string[],
): Promise<number> {
  let problems = 0;
  for (const spec of samples) {
    const eq = spec.indexOf("=");
    if (eq <= 0 || eq === spec.length - 1) {
      throw new InputError(
        `check: --sample takes <detector>=<alert.json>, not "${spec}"`,
      );
    }
    const [name, file] = [spec.slice(0, eq), spec.slice(eq + 1)];
    const detector = config.detectors.get(name);
    if (!detector) {
      throw new InputError(
        `check: --sample ${spec}: unknown detector "${name}" (known: ${
          [...config.detectors.keys()].sort().join(", ") || "none"
        })`,
      );
    }
    let sample: unknown;
    try {
      sample = parseJson(await Deno.readTextFile(file));
    } catch (err) {
      throw new InputError(
        `check: --sample ${spec}: cannot read ${file}: ${
          (err as Error).message
        }`,
      );
    }
    if (
      sample === null || typeof sample !== "object" || Array.isArray(sample)
    ) {
      throw new InputError(`check: --sample ${spec}: must be one JSON object`);
    }
    const report = await checkSample(
      { config, registry },
      detector,
      sample as Record<string, unknown>,
    );
    for (const alert of report.alerts) {
      console.log(
        redact(
          `sample ${file}: ${name}: ${
            alert.severity ? `[${alert.severity}] ` : ""
          }${JSON.stringify(alert.subject)}${
            alert.condition ? ` (condition ${alert.condition})` : ""
          }`,
        ),
      );
    }
    for (const finding of report.findings) {
      console.error(redact(`error: ${file}: ${name}.${finding}`));
    }
    problems += report.findings.length;
  }
  if (problems > 0) {
    console.error(`${problems} problem(s) in the samples`);
    return 2;
  }
  return 0;
}

export default command;

/**
 * Storm control: a detector whose `storm.fingerprint` differs from the one its stored windows were
 * made with starts new windows (the fingerprint id hashes the definition); says so, naming both.
 * Nothing when there is no store yet or it cannot be read.
 */
function fingerprintChanges(config: LoadedConfig): string[] {
  let stored: { detector: string; definition: string; paths: string[] }[];
  try {
    const reader = openSqliteReader(join(config.global.data_dir, "blitz.db"));
    try {
      stored = reader.stormDefinitions();
    } finally {
      reader.close();
    }
  } catch {
    return [];
  }
  const warnings: string[] = [];
  for (const detector of config.detectors.values()) {
    const paths = detector.config.storm?.fingerprint;
    if (!paths) continue;
    const current = definitionHash(paths);
    const older = stored.filter((s) =>
      s.detector === detector.name && s.definition !== current
    );
    if (older.length === 0) continue;
    warnings.push(
      `${detector.file}: ${detector.name}.storm.fingerprint: changed from ${
        older.map((o) => `[${o.paths.join(", ")}]`).join(" and ")
      } to [${
        paths.join(", ")
      }]: alerts start new windows (one email per fingerprint again); the old windows still send their digests`,
    );
  }
  return warnings;
}
