/**
 * Loads the global config and the detector files, substitutes `${env:NAME}`, validates everything
 * once at start-up, and reports each problem as `<file>: <detector>.<path>: <message>`.
 *
 * @module
 */
import type { z } from "zod";
import type { Condition } from "./conditions.ts";
import { importLazy } from "./lazy.ts";
import { yamlParser } from "./yaml.ts";
import {
  type DetectorConfig,
  DetectorSchema,
  type EnrichmentEntry,
  type GlobalConfig,
  GlobalConfigSchema,
} from "./config_schema.ts";
import { ConfigError } from "./errors.ts";
import type { DetectorModule } from "./plugin.ts";
import type { PluginRegistry } from "./registry.ts";
import { substituteEnv } from "./secrets.ts";
import { dirname, isAbsolute, join, resolve, toFileUrl } from "./paths.ts";

/** A block of enrichments and the condition that selects it (null: unconditional). */
export interface EnrichmentBlock {
  condition: Condition | null;
  entries: EnrichmentEntry[];
}

/** A detector ready to use. */
export interface LoadedDetector {
  name: string;
  file: string;
  config: DetectorConfig;
  blocks: EnrichmentBlock[];
  module?: DetectorModule;
}

/** The whole validated configuration. */
export interface LoadedConfig {
  file: string;
  dir: string;
  global: GlobalConfig;
  detectors: Map<string, LoadedDetector>;
  /** Non-fatal findings, e.g. a literal secret in a committed file. */
  warnings: string[];
}

/** Options of `loadConfig`. */
export interface LoadConfigOptions {
  /** Config file path. @default `BLITZ_CONFIG`, else `blitz.yaml` in the working directory */
  path?: string | undefined;
  /** Environment lookup. @default Deno.env.get */
  env?: (name: string) => string | undefined;
  /** Plugins to validate `e_func` and action names against (or a loader given the global config). */
  registry?:
    | PluginRegistry
    | ((global: GlobalConfig) => Promise<PluginRegistry>);
  /** Load and validate only this detector (fast path for one CLI ingest). @default all */
  only?: string | undefined;
}

/** Built-in color names for reply buttons, overridable through `mail_colors`. */
export const DEFAULT_COLORS: Record<string, string> = {
  orange: "#d9822b",
  red: "#c23030",
  green: "#0f9960",
  blue: "#2b6cb0",
  grey: "#5c7080",
  gray: "#5c7080",
  purple: "#7157d9",
};

const SECRET_PATHS = [
  /^action_keys\[\d+\]\.secret$/,
  /^ingest_tokens\[\d+\]$/,
  /^ingest_hmac_secret$/,
  /^ui_auth\.users\[\d+\]\.password$/,
];

/**
 * Reads an environment variable; one the process may not read (its `--allow-env` list) is a config
 * error naming the flag, not a crash.
 */
function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch (err) {
    if (
      err instanceof Deno.errors.NotCapable ||
      err instanceof Deno.errors.PermissionDenied
    ) {
      throw new ConfigError([
        `Cannot read environment variable ${name}: add it to --allow-env`,
      ]);
    }
    throw err;
  }
}

/** Finds the config path from the option, `BLITZ_CONFIG`, or `blitz.yaml`. */
export function configPath(
  path: string | undefined,
  env: (name: string) => string | undefined,
): string {
  return resolve(path ?? env("BLITZ_CONFIG") ?? "blitz.yaml");
}

/** Formats a zod issue path: `a.b[0].c`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

/** Replaces a union's bare "Invalid input" by the issues of the one branch that matched the value's shape. */
function unionIssues(
  issues: readonly z.core.$ZodIssue[],
  base: PropertyKey[] = [],
): z.core.$ZodIssue[] {
  return issues.flatMap((issue) => {
    const path = [...base, ...issue.path];
    if (issue.code === "invalid_union") {
      const fits = issue.errors.filter((b) =>
        !b.some((i) => i.path.length === 0 && i.code === "invalid_type")
      );
      if (fits.length === 1) return unionIssues(fits[0]!, path);
    }
    return [{ ...issue, path }];
  });
}

function zodProblems(
  file: string,
  prefix: string,
  error: z.ZodError,
): string[] {
  return unionIssues(error.issues).map((issue) => {
    const where = [prefix, formatPath(issue.path)].filter(Boolean).join(
      prefix && issue.path.length ? "." : "",
    );
    return `${file}: ${where || "(root)"}: ${issue.message}`;
  });
}

async function readStructured(file: string): Promise<unknown> {
  const text = await Deno.readTextFile(file);
  if (file.endsWith(".json")) {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new ConfigError([
        `${file}: (root): invalid JSON: ${(err as Error).message}`,
      ]);
    }
  }
  const parse = await yamlParser();
  try {
    return parse(text, { prettyErrors: true, uniqueKeys: true }) ?? {};
  } catch (err) {
    throw new ConfigError([
      `${file}: (root): invalid YAML: ${(err as Error).message.split("\n")[0]}`,
    ]);
  }
}

function literalSecrets(raw: unknown, file: string, path = ""): string[] {
  if (typeof raw === "string") {
    const secret = SECRET_PATHS.some((re) => re.test(path)) ||
      (/(^smtp$|^databases\.)/.test(path) &&
        /:\/\/[^/@\s]*:[^/@\s]+@/.test(raw));
    return secret && !raw.includes("${env:")
      ? [`${file}: ${path}: literal secret; use \${env:NAME}`]
      : [];
  }
  if (Array.isArray(raw)) {
    return raw.flatMap((v, i) => literalSecrets(v, file, `${path}[${i}]`));
  }
  if (raw && typeof raw === "object") {
    return Object.entries(raw).flatMap(([k, v]) =>
      literalSecrets(v, file, path ? `${path}.${k}` : k)
    );
  }
  return [];
}

/** Loads and validates the global config and its detectors; throws ConfigError listing every problem. */
export async function loadConfig(
  options: LoadConfigOptions = {},
): Promise<LoadedConfig> {
  const env = options.env ?? readEnv;
  const file = configPath(options.path, env);
  let raw: unknown;
  try {
    raw = await readStructured(file);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    if (err instanceof Deno.errors.NotFound) {
      throw new ConfigError([
        `${file}: (root): config file not found (use --config <path> or BLITZ_CONFIG)`,
      ]);
    }
    throw new ConfigError([
      `${file}: (root): cannot read: ${(err as Error).message}`,
    ]);
  }
  const problems: string[] = [];
  const substituted = substituteEnv(raw, {
    env,
    onMissing: (name, path) =>
      problems.push(
        `${file}: ${path || "(root)"}: environment variable ${name} is not set`,
      ),
  });
  const parsed = GlobalConfigSchema.safeParse(substituted);
  if (!parsed.success) problems.push(...zodProblems(file, "", parsed.error));
  if (problems.length) throw new ConfigError(problems);
  const global = parsed.data!;
  const dir = dirname(file);
  const at = (p: string) => (isAbsolute(p) ? p : join(dir, p));
  global.detectors_dir = at(global.detectors_dir);
  global.data_dir = at(global.data_dir);
  global.plugin_dirs = global.plugin_dirs.map(at);
  const config: LoadedConfig = {
    file,
    dir,
    global,
    detectors: new Map(),
    warnings: literalSecrets(raw, file),
  };
  const registry = typeof options.registry === "function"
    ? await options.registry(global)
    : options.registry;
  await loadDetectors(config, env, { ...options, registry }, problems);
  if (
    options.only !== undefined && !config.detectors.has(options.only) &&
    problems.length === 0
  ) {
    throw new ConfigError([
      `Unknown detector "${options.only}": no detector of that name in ${global.detectors_dir}`,
    ]);
  }
  if (problems.length) throw new ConfigError(problems);
  return config;
}

async function listDetectorFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (
        entry.isFile && /\.(ya?ml|json|ts)$/.test(entry.name) &&
        !/_test\.ts$/.test(entry.name)
      ) {
        files.push(join(dir, entry.name));
      }
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new ConfigError([`${dir}: (root): detectors_dir does not exist`]);
    }
    throw err;
  }
  return files.sort();
}

async function loadDetectors(
  config: LoadedConfig,
  env: (name: string) => string | undefined,
  options: { only?: string | undefined; registry: PluginRegistry | undefined },
  problems: string[],
): Promise<void> {
  const modules = new Map<string, { file: string; module: DetectorModule }>();
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
      const existing = config.detectors.get(name);
      if (existing) {
        problems.push(
          `${file}: ${name}: detector already defined in ${existing.file}`,
        );
        continue;
      }
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
      const compile = parsed.data.enrichment_conditional
        ? (await importLazy<typeof import("./conditions.ts")>(
          "core/conditions.ts",
        ))
          .compileCondition
        : undefined;
      const detector = checkDetector(
        config,
        name,
        file,
        parsed.data,
        { registry: options.registry, compile },
        problems,
      );
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

async function loadDetectorModule(
  file: string,
  problems: string[],
): Promise<DetectorModule | undefined> {
  let mod: Record<string, unknown>;
  try {
    mod = await import(toFileUrl(file).href);
  } catch (err) {
    problems.push(
      `${file}: (module): cannot import: ${
        (err as Error).message.split("\n")[0]
      }`,
    );
    return undefined;
  }
  const value = mod.default as DetectorModule | undefined;
  if (!value || typeof value !== "object" || typeof value.name !== "string") {
    problems.push(
      `${file}: (module): could not find a default export with a name; use "export default defineDetector({ name, preprocess })"`,
    );
    return undefined;
  }
  if (
    value.preprocess !== undefined && typeof value.preprocess !== "function"
  ) {
    problems.push(`${file}: ${value.name}.preprocess: must be a function`);
    return undefined;
  }
  return value;
}

function checkDetector(
  config: LoadedConfig,
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
      for (const [source, entries] of Object.entries(enrichments)) {
        try {
          blocks.push({ condition: compile!(source), entries });
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
      } else {for (const block of blocks) {
          block.entries = [...block.entries, entry];
        }}
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
  detector.actions.reply.forEach((button, i) => {
    const color = button.config.color;
    if (
      !color.startsWith("#") && !(color in config.global.mail_colors) &&
      !(color in DEFAULT_COLORS)
    ) {
      problem(
        `actions.reply[${i}].color`,
        `unknown color "${color}": use a hex value or a name from mail_colors`,
      );
    }
  });
  if (
    detector.actions.reply.length > 0 && config.global.action_keys.length === 0
  ) {
    problem(
      "actions.reply",
      "reply actions need action_keys in the global config to sign their links",
    );
  }
  if (problems.length > before) return undefined;
  return { name, file, config: detector, blocks };
}

/** Resolves a button color name to hex through `mail_colors` and the defaults. */
export function colorOf(config: GlobalConfig, color: string): string {
  if (color.startsWith("#")) return color;
  return config.mail_colors[color] ?? DEFAULT_COLORS[color] ??
    DEFAULT_COLORS.blue!;
}
