/**
 * A detector's checks that need more than its schema, and the detector they build: CEL conditions
 * compiled into enrichment blocks, the original mail_conf's `custom_enrichment_data`, plugin and
 * action names against the registry, `notify` lists against the channels, the reply buttons
 * (`_button_checks.ts`), the storm block, and the compiled severity rule. No zod here: a config served
 * from the cache (`_cache.ts`) is built from its validated detectors without loading the schemas.
 *
 * @module
 */
import type { Condition } from "./conditions.ts";
import type {
  DetectorConfig,
  EnrichmentEntry,
  GlobalConfig,
} from "./schema.ts";
import type { ChannelConfig } from "./channels.ts";
import { importLazy } from "../lazy.ts";
import type { DetectorModule } from "../plugin.ts";
import type { PluginRegistry } from "../plugins/registry.ts";
import { checkStorm } from "./_storm_checks.ts";
import { checkButtons } from "./_button_checks.ts";
import { didYouMean } from "../suggest.ts";
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

/**
 * Builds detector `name` of `file` from its validated config and adds it to `config`; what is wrong
 * goes to `problems` (and the detector is not added).
 */
export async function buildDetector(
  config: DetectorTarget,
  entry: { name: string; file: string; config: DetectorConfig },
  registry: PluginRegistry | undefined,
  problems: string[],
): Promise<void> {
  const { name, file } = entry;
  // The CEL engine is imported only when a detector has conditions (cold start).
  const cel = entry.config.enrichment_conditional
    ? await importLazy<typeof import("./conditions.ts")>(
      "core/config/conditions.ts",
    )
    : undefined;
  const { size, time } = config.global.condition_budget;
  const compile = cel
    ? (source: string) => cel.compileCondition(source, { size, timeMs: time })
    : undefined;
  const detector = checkDetector(
    config,
    name,
    file,
    entry.config,
    { registry, compile },
    problems,
  );
  if (!detector) return;
  if (entry.config.severity) {
    const rule = await severityRule(
      entry.config.severity,
      (message) => problems.push(`${file}: ${name}.severity.cel: ${message}`),
    );
    if (!rule) return;
    detector.severity = rule;
  }
  config.detectors.set(name, detector);
}

/** Attaches each detector module to the detector config of its name (a module without one is a problem). */
export function attachModules(
  config: DetectorTarget,
  modules: ReadonlyMap<string, { file: string; module: DetectorModule }>,
  problems: string[],
): void {
  for (const [name, { file, module }] of modules) {
    const detector = config.detectors.get(name);
    if (!detector) {
      problems.push(
        `${file}: ${name}: detector module has no detector config of that name`,
      );
    } else detector.module = module;
  }
}

/** What is wrong with a `notify` list: each unknown channel, with its index and a did-you-mean. */
export function notifyProblems(
  notify: readonly string[],
  channels: ReadonlyMap<string, ChannelConfig>,
): { index: number; message: string }[] {
  const known = ["email", ...channels.keys()];
  return notify.flatMap((name, index) =>
    known.includes(name) ? [] : [{
      index,
      message: `unknown channel "${name}"${didYouMean(name, known)}`,
    }]
  );
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
