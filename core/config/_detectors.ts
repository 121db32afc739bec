/**
 * Loading detectors: each detector file's entries through env substitution and the schema, then
 * `_detector_checks.ts` builds each valid one (conditions, registry names, buttons, storm, severity).
 * Detector modules (`.ts`) attach to the config of the same name.
 *
 * @module
 */
import { type DetectorConfig, DetectorSchema } from "./schema.ts";
import { ConfigError } from "../errors.ts";
import type { DetectorModule } from "../plugin.ts";
import type { PluginRegistry } from "../plugins/registry.ts";
import { substituteEnv } from "../secrets.ts";
import {
  listDetectorFiles,
  loadDetectorModule,
  readStructured,
} from "./_files.ts";
import { literalSecrets, zodProblems } from "./_problems.ts";
import {
  attachModules,
  buildDetector,
  type DetectorTarget,
} from "./_detector_checks.ts";

/** One detector entry as validated: its file's text, the raw value and the schema's output. */
export interface ValidatedDetector {
  name: string;
  file: string;
  raw: unknown;
  config: DetectorConfig;
  /** The warnings it added (literal secrets). */
  warnings: string[];
}

/** What `loadDetectors` read: the detector files listed, and the text of each one it parsed. */
export interface DetectorSources {
  listing: string[];
  texts: Map<string, string>;
  /** The entries that passed the schema and the checks, in order. */
  validated: ValidatedDetector[];
}

/** Loads every detector (or only `options.only`) into `config`, pushing what is wrong to `problems`. */
export async function loadDetectors(
  config: DetectorTarget,
  env: (name: string) => string | undefined,
  options: { only?: string | undefined; registry: PluginRegistry | undefined },
  problems: string[],
): Promise<DetectorSources> {
  const modules = new Map<string, { file: string; module: DetectorModule }>();
  const seen = new Map<string, string>();
  const sources: DetectorSources = {
    listing: await listDetectorFiles(config.global.detectors_dir),
    texts: new Map(),
    validated: [],
  };
  for (const file of sources.listing) {
    if (file.endsWith(".ts")) {
      const name = file.slice(file.lastIndexOf("/") + 1, -3);
      if (options.only !== undefined && name !== options.only) continue;
      const loaded = await loadDetectorModule(file, problems);
      if (loaded) modules.set(loaded.name, { file, module: loaded });
      continue;
    }
    let raw: unknown;
    try {
      raw = await readStructured(file, sources.texts);
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
      const warnings = literalSecrets(value, file, name).filter((w) =>
        !w.includes(".mailers")
      );
      config.warnings.push(...warnings);
      const entry = { name, file, config: parsed.data };
      await buildDetector(config, entry, options.registry, problems);
      if (config.detectors.has(name)) {
        sources.validated.push({ ...entry, raw: value, warnings });
      }
    }
  }
  attachModules(config, modules, problems);
  return sources;
}
