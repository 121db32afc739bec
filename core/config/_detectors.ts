/**
 * Loading detectors: each detector file's entries through env substitution and the schema, then the
 * checks that need more than one field: CEL conditions compiled into enrichment blocks, the original
 * mail_conf's `custom_enrichment_data`, plugin and action names against the registry, and the reply
 * buttons (`_button_checks.ts`). Detector modules (`.ts`) attach to the config of the same name.
 *
 * @module
 */
import type { Condition } from "./conditions.ts";
import {
  type DetectorConfig,
  DetectorSchema,
  type EnrichmentEntry,
  type GlobalConfig,
} from "./schema.ts";
import { type ChannelConfig, notifyProblems } from "./channels.ts";
import { ConfigError } from "../errors.ts";
import { importLazy } from "../lazy.ts";
import type { DetectorModule } from "../plugin.ts";
import type { PluginRegistry } from "../plugins/registry.ts";
import { substituteEnv } from "../secrets.ts";
import {
  listDetectorFiles,
  loadDetectorModule,
  readStructured,
} from "./_files.ts";
import { literalSecrets, zodProblems } from "./_problems.ts";
import { checkStorm } from "./_storm_checks.ts";
import { checkButtons } from "./_button_checks.ts";

export { DEFAULT_COLORS } from "./_button_checks.ts";
import type { SeverityConfig, SeverityRule } from "../severity.ts";

/** A block of enrichments and the condition that selects it (null: unconditional). */
export interface EnrichmentBlock {
  condition: Condition | null;
  entries: EnrichmentEntry[];
  /** The block's own `notify` (channels), overriding the detector's. */
  notify?: string[];
}

/** A detector ready to use. */
export interface LoadedDetector {
  name: string;
  file: string;
  config: DetectorConfig;
  blocks: EnrichmentBlock[];
  module?: DetectorModule;
  /** The `severity` key, its CEL expression compiled (core/severity.ts). */
  severity?: SeverityRule;
}

/** The part of the loaded config that detectors are checked against and added to. */
export interface DetectorTarget {
  global: GlobalConfig;
  /** The validated global channels, which `notify` lists may name. */
  channels: ReadonlyMap<string, ChannelConfig>;
  detectors: Map<string, LoadedDetector>;
  warnings: string[];
}

/** Loads every detector (or only `options.only`) into `config`, pushing what is wrong to `problems`. */
export async function loadDetectors(
  config: DetectorTarget,
  env: (name: string) => string | undefined,
  options: { only?: string | undefined; registry: PluginRegistry | undefined },
  problems: string[],
): Promise<void> {
  const modules = new Map<string, { file: string; module: DetectorModule }>();
  const seen = new Map<string, string>();
  for (const file of await listDetectorFiles(config.global.detectors_dir)) {
    if (file.endsWith(".ts")) {
      const name = file.slice(file.lastIndexOf("/") + 1, -3);
      if (options.only !== undefined && name !== options.only) continue;
      const loaded = await loadDetectorModule(file, problems);
      if (loaded) modules.set(loaded.name, { file, module: loaded });
      continue;
    }
    let raw: unknown;
    try {
      raw = await readStructured(file);
    } catch (err) {
      if (err instanceof ConfigError) {
        problems.push(...err.problems);
        continue;
      }
      throw err;
    }
    if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
      problems.push(
        `${file}: (root): must be a map of detector name to detector config`,
      );
      continue;
    }
    for (const [name, value] of Object.entries(raw)) {
      if (options.only !== undefined && name !== options.only) continue;
      // A name seen before is a duplicate even when that first definition had problems of its own.
      const existing = seen.get(name) ?? config.detectors.get(name)?.file;
      if (existing !== undefined) {
        problems.push(
          `${file}: ${name}: detector already defined in ${existing}`,
        );
        continue;
      }
      seen.set(name, file);
      const before = problems.length;
      const substituted = substituteEnv(value, {
        env,
        onMissing: (v, path) =>
          problems.push(
            `${file}: ${name}.${path}: environment variable ${v} is not set`,
          ),
      });
      const parsed = DetectorSchema.safeParse(substituted);
      if (!parsed.success) {
        problems.push(...zodProblems(file, name, parsed.error));
        continue;
      }
      if (problems.length > before) continue;
      config.warnings.push(
        ...literalSecrets(value, file, name).filter((w) =>
          !w.includes(".mailers")
        ),
      );
      // The CEL engine is imported only when a detector has conditions (cold start).
      const cel = parsed.data.enrichment_conditional
        ? await importLazy<typeof import("./conditions.ts")>(
          "core/config/conditions.ts",
        )
        : undefined;
      const { size, time } = config.global.condition_budget;
      const compile = cel
        ? (source: string) =>
          cel.compileCondition(source, { size, timeMs: time })
        : undefined;
      const detector = checkDetector(
        config,
        name,
        file,
        parsed.data,
        { registry: options.registry, compile },
        problems,
      );
      if (detector && parsed.data.severity) {
        const rule = await severityRule(
          parsed.data.severity,
          (message) =>
            problems.push(`${file}: ${name}.severity.cel: ${message}`),
        );
        if (rule) detector.severity = rule;
        else continue;
      }
      if (detector) config.detectors.set(name, detector);
    }
  }
  for (const [name, { file, module }] of modules) {
    const detector = config.detectors.get(name);
    if (!detector) {
      problems.push(
        `${file}: ${name}: detector module has no detector config of that name`,
      );
    } else detector.module = module;
  }
}

/** The severity rule of a detector, its `cel` compiled (the CEL engine loaded only then). */
async function severityRule(
  config: SeverityConfig,
  problem: (message: string) => void,
): Promise<SeverityRule | undefined> {
  if (config.cel === undefined) return { config };
  const { compileExpression } = await importLazy<
    typeof import("./conditions.ts")
  >("core/config/conditions.ts");
  try {
    return { config, evaluate: compileExpression(config.cel).evaluate };
  } catch (err) {
    problem((err as Error).message);
    return undefined;
  }
}

function checkDetector(
  config: DetectorTarget,
  name: string,
  file: string,
  detector: DetectorConfig,
  deps: {
    registry: PluginRegistry | undefined;
    compile: ((source: string) => Condition) | undefined;
  },
  problems: string[],
): LoadedDetector | undefined {
  const { registry, compile } = deps;
  const before = problems.length;
  const problem = (path: string, message: string) =>
    problems.push(`${file}: ${name}.${path}: ${message}`);
  const blocks: EnrichmentBlock[] = [];
  const { enrichments } = detector;
  if (detector.enrichment_conditional) {
    if (Array.isArray(enrichments)) {
      problem(
        "enrichments",
        "must be a map of CEL condition to list when enrichment_conditional is true",
      );
    } else {
      for (const [source, value] of Object.entries(enrichments)) {
        const entries = Array.isArray(value) ? value : value.enrichments;
        const notify = Array.isArray(value) ? undefined : value.notify;
        try {
          blocks.push({
            condition: compile!(source),
            entries,
            ...(notify ? { notify } : {}),
          });
          if (notify) {
            for (const p of notifyProblems(notify, config.channels)) {
              problem(
                `enrichments["${source}"].notify[${p.index}]`,
                p.message,
              );
            }
          }
        } catch (err) {
          problem(`enrichments["${source}"]`, (err as Error).message);
        }
      }
    }
  } else if (!Array.isArray(enrichments)) {
    problem(
      "enrichments",
      "is a map of conditions: set enrichment_conditional: true, or make it a list",
    );
  } else {
    blocks.push({ condition: null, entries: enrichments });
  }
  for (const p of notifyProblems(detector.notify, config.channels)) {
    problem(`notify[${p.index}]`, p.message);
  }
  if (!detector.enrichment) blocks.length = 0;
  // The original ran custom_enrichment_data (Elasticsearch queries) whenever it was present.
  if (detector.custom_enrichment_data.length > 0) {
    const hasEs = blocks.some((b) =>
      b.entries.some((e) =>
        ["elasticsearch", "elastic_logs"].includes(e.e_func)
      )
    );
    if (!hasEs) {
      const entry: EnrichmentEntry = {
        e_name: "Elasticsearch",
        e_func: "elasticsearch",
        e_key: "",
        enabled: true,
        e_args: {},
      };
      if (blocks.length === 0) {
        blocks.push({ condition: null, entries: [entry] });
      } else {
        for (const block of blocks) {
          block.entries = [...block.entries, entry];
        }
      }
    }
  }
  if (registry) {
    const seen = new Set<EnrichmentEntry>();
    blocks.forEach((block) =>
      block.entries.forEach((entry, i) => {
        if (seen.has(entry)) return;
        seen.add(entry);
        if (!registry.hasEnrichment(entry.e_func)) {
          const where = block.condition
            ? `enrichments["${block.condition.source}"][${i}]`
            : `enrichments[${i}]`;
          problem(
            `${where}.e_func`,
            `unknown enrichment "${entry.e_func}"${
              registry.suggest("enrichment", entry.e_func)
            }`,
          );
        }
      })
    );
    detector.actions.send.forEach((step, i) => {
      if (!registry.hasAction(step.name)) {
        problem(
          `actions.send[${i}]`,
          `unknown action "${step.name}"${
            registry.suggest("action", step.name)
          }`,
        );
      }
    });
    detector.actions.reply.forEach((button, i) =>
      button.config.actions.forEach((step, j) => {
        if (!registry.hasAction(step.name)) {
          problem(
            `actions.reply[${i}].actions[${j}]`,
            `unknown action "${step.name}"${
              registry.suggest("action", step.name)
            }`,
          );
        }
      })
    );
  }
  checkButtons(detector, config.global, problem);
  checkStorm(detector, problem);
  if (problems.length > before) return undefined;
  return { name, file, config: detector, blocks };
}
