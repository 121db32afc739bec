/**
 * The config cache (issue 17: one `ingest` process per alert): the validated config of a full load,
 * kept in `<data_dir>/cache/`, so that the next process whose files are unchanged skips the YAML
 * parser, the schemas' construction and their validation (about a third of a cold ingest).
 *
 * An optimisation only, never a second source of truth:
 * - The key is a SHA-256 over the text of every file the load parsed (the global file and each
 *   detector file), the list of files in `detectors_dir`, the `only` detector, the value of every
 *   `${env:NAME}` the load looked up (salted: the file holds no plain digest of a secret), and the
 *   size and modification time of the code that validates (the schemas, `deno.json`): any change is
 *   a full load. The plugin registry is loaded as always, its channel types compared, and every
 *   check that needs the registry (`_detector_checks.ts`) runs on each load.
 * - Substituted values are not stored: where a value held `${env:NAME}`, the cache keeps that text and
 *   substitutes it again (registering the secret as a full load does). A config whose substituted
 *   value the schema transformed, or whose output is not plain JSON, is not cached.
 * - A cache that cannot be read, parsed or trusted is ignored (and replaced by the next full load);
 *   a `data_dir` that is missing or read-only means no cache, not an error. Files are written whole
 *   (a temporary file renamed) with mode 0600.
 *
 * The cache's folder is found before the config is parsed, from a `data_dir:` line of the global file
 * (or its default); a config that sets `data_dir` any other way is simply not cached.
 *
 * @module
 */
import type { PluginRegistry } from "../plugins/registry.ts";
import type { DetectorConfig, GlobalConfig } from "./schema.ts";
import type { ChannelConfig } from "./channels.ts";
import { registerUrlSecrets, substituteEnv } from "../secrets.ts";
import { dirname, isAbsolute, join } from "../paths.ts";
import { projectUrl } from "../lazy.ts";
import { listDetectorFiles, loadDetectorModule } from "./_files.ts";
import {
  attachModules,
  buildDetector,
  type LoadedDetector,
} from "./_detector_checks.ts";
import {
  type LoadConfigOptions,
  type LoadedConfig,
  onlyCheck,
  smtpChecks,
} from "./_loaded.ts";
import type { DetectorModule } from "../plugin.ts";
import type { LoadSources } from "./validate.ts";

/** Bumped whenever what the cache holds changes shape. */
const FORMAT = 1;

/** The code whose change changes a validated config (by size and modification time). */
const CODE = [
  "core/config/_cache.ts",
  "core/config/validate.ts",
  "core/config/_detectors.ts",
  "core/config/_files.ts",
  "core/config/yaml.ts",
  "core/config/schema.ts",
  "core/config/channels.ts",
  "core/severity.ts",
  "core/duration.ts",
  "core/headers.ts",
  "core/ip.ts",
  "core/secrets.ts",
  "deno.json",
  "deno.lock",
];

interface CacheFile {
  format: number;
  /** SHA-256 (hex) of the key's parts (see {@link keyOf}). */
  key: string;
  salt: string;
  /** The files whose text is in the key: the global file first. */
  files: string[];
  /** `detectors_dir`'s detector files. */
  listing: string[];
  env: string[];
  /** The registry's channel types (null: loaded without a registry). */
  channelTypes: string[] | null;
  global: GlobalConfig;
  globalWarnings: string[];
  channels: [string, ChannelConfig][];
  detectors: {
    name: string;
    file: string;
    config: DetectorConfig;
    warnings: string[];
  }[];
}

/** A hit's config, or on a miss the registry a look at the cache loaded already (reused by the full load). */
export type CacheLookup =
  | { config: LoadedConfig }
  | { registry?: PluginRegistry | undefined };

const encoder = new TextEncoder();

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(text));
  return Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

/**
 * Where the cache of the config at `file` would be, from its text alone: the folder of a single plain
 * `data_dir:` line (its default `data` without one), undefined when that cannot be told safely.
 */
export function dataDirHint(file: string, text: string): string | undefined {
  let value: unknown = "data";
  if (file.endsWith(".json")) {
    try {
      value = (JSON.parse(text) as { data_dir?: unknown }).data_dir ?? "data";
    } catch {
      return undefined;
    }
  } else {
    const lines = text.match(/^["']?data_dir["']?[ \t]*:.*$/gm) ?? [];
    if (lines.length > 1 || /^[{[]|^<<|^[ \t]*-?[ \t]*<</m.test(text)) {
      return undefined;
    }
    if (lines.length === 1) {
      value = lines[0]!.replace(/^[^:]*:[ \t]*/, "").replace(/[ \t]+#.*$/, "")
        .trim();
      const quoted = /^(["'])([^"'\\]*)\1$/.exec(value as string);
      if (quoted) value = quoted[2];
      else if (/^["'&*!|>{[%@`]|\$\{|^$/.test(value as string)) {
        return undefined;
      }
    }
  }
  if (typeof value !== "string" || value.includes("${")) return undefined;
  return isAbsolute(value) ? value : join(dirname(file), value);
}

/** The cache file of `file` loaded for `only`, under `dataDir`. */
async function cacheFile(
  dataDir: string,
  file: string,
  only: string | undefined,
): Promise<string> {
  const id = (await sha256(`${file}\0${only ?? ""}`)).slice(0, 32);
  return join(dataDir, "cache", `config-${id}.json`);
}

/** Size and modification time of the validating code; undefined where that cannot be read. */
async function codeStamp(): Promise<string | undefined> {
  // In the single-file bundle the modules are one file: its own stamp stands for all of them.
  const urls = import.meta.url.endsWith("/core/config/_cache.ts")
    ? CODE.map(projectUrl)
    : [import.meta.url];
  try {
    const stamps = await Promise.all(urls.map(async (url) => {
      const info = await Deno.stat(new URL(url));
      if (!info.mtime) throw new Error("no modification time");
      return `${url} ${info.size} ${info.mtime.getTime()}`;
    }));
    return stamps.join("\n");
  } catch {
    return undefined;
  }
}

/** The key of a load: every input that decides what it validates (see the module doc). */
async function keyOf(parts: {
  code: string;
  only: string | undefined;
  files: [string, string][];
  listing: string[];
  env: [string, string | undefined][];
  salt: string;
}): Promise<string> {
  const texts = await Promise.all(
    parts.files.map(async ([file, text]) => [file, await sha256(text)]),
  );
  return await sha256(JSON.stringify([
    FORMAT,
    parts.code,
    parts.only ?? null,
    texts,
    parts.listing,
    parts.env.map(([name, value]) => [name, value ?? null]),
    parts.salt,
  ]));
}

/** Thrown inside a lookup for anything that makes the cache unusable. */
class Miss extends Error {}

/**
 * The config of `file` (its `text`) from the cache, when every file, value and piece of code it was
 * validated from is unchanged; otherwise `{ registry }` (the registry if it was loaded). Never throws
 * for the cache's sake: an unusable cache is a miss.
 */
export async function cachedConfig(
  file: string,
  text: string,
  env: (name: string) => string | undefined,
  options: LoadConfigOptions,
): Promise<CacheLookup> {
  let registry: PluginRegistry | undefined;
  try {
    const dataDir = dataDirHint(file, text);
    const code = await codeStamp();
    if (dataDir === undefined || code === undefined) return {};
    const cached = JSON.parse(
      await Deno.readTextFile(await cacheFile(dataDir, file, options.only)),
    ) as CacheFile;
    if (cached.format !== FORMAT || cached.files[0] !== file) return {};
    if (cached.global.data_dir !== dataDir) return {};
    const listing = await listDetectorFiles(cached.global.detectors_dir);
    const files: [string, string][] = [[file, text]];
    for (const other of cached.files.slice(1)) {
      files.push([other, await Deno.readTextFile(other)]);
    }
    const key = await keyOf({
      code,
      only: options.only,
      files,
      listing,
      env: cached.env.map((name) => [name, env(name)]),
      salt: cached.salt,
    });
    if (key !== cached.key) return {};
    const substitute = <T>(value: T): T =>
      substituteEnv(value, {
        env,
        onMissing: () => {
          throw new Miss();
        },
      }) as T;
    const global = substitute(cached.global);
    registry = typeof options.registry === "function"
      ? await options.registry(global)
      : options.registry;
    const channelTypes = registry?.names("channel") ?? null;
    if (JSON.stringify(channelTypes) !== JSON.stringify(cached.channelTypes)) {
      return { registry };
    }
    const config: LoadedConfig = {
      file,
      dir: dirname(file),
      global,
      channels: new Map(
        cached.channels.map(([name, channel]) => [name, substitute(channel)]),
      ),
      detectors: new Map<string, LoadedDetector>(),
      warnings: [...cached.globalWarnings],
    };
    for (const channel of config.channels.values()) {
      if (!channel.plugin && channel.type === "teams") {
        registerUrlSecrets(channel.webhook_url);
      }
    }
    const problems: string[] = [];
    smtpChecks(config, problems);
    for (const detector of cached.detectors) {
      config.warnings.push(...detector.warnings);
      await buildDetector(
        config,
        { ...detector, config: substitute(detector.config) },
        registry,
        problems,
      );
    }
    const modules = new Map<string, { file: string; module: DetectorModule }>();
    for (const module of listing.filter((f) => f.endsWith(".ts"))) {
      const name = module.slice(module.lastIndexOf("/") + 1, -3);
      if (options.only !== undefined && name !== options.only) continue;
      const loaded = await loadDetectorModule(module, problems);
      if (loaded) modules.set(loaded.name, { file: module, module: loaded });
    }
    attachModules(config, modules, problems);
    // Whatever is wrong now (a plugin gone from the registry) is reported by a full load, in its words.
    if (problems.length > 0) return { registry };
    onlyCheck(config, options.only, problems);
    return { config };
  } catch {
    return registry ? { registry } : {};
  }
}

/**
 * Writes the cache of a full load (`config`, from `text` and `sources`), when it can be cached: its
 * folder is the one `dataDirHint` finds, data_dir exists, and every substituted value can be stored as
 * its `${env:NAME}` text. `looked` holds each environment variable the load looked up. Never throws.
 */
export async function writeConfigCache(
  config: LoadedConfig,
  text: string,
  sources: LoadSources,
  looked: ReadonlyMap<string, string | undefined>,
  only: string | undefined,
): Promise<void> {
  try {
    const { file, global } = config;
    const code = await codeStamp();
    if (code === undefined || dataDirHint(file, text) !== global.data_dir) {
      return;
    }
    const env = (name: string) => looked.get(name);
    const raw = (sources.raw ?? {}) as Record<string, unknown>;
    const rawChannels = (raw.channels ?? {}) as Record<string, unknown>;
    const stored = {
      global: placeholders(raw, global, env),
      channels: [...config.channels].map(([name, channel]) =>
        [name, placeholders(rawChannels[name], channel, env)] as const
      ),
      detectors: sources.detectors.validated.map((d) => ({
        name: d.name,
        file: d.file,
        config: placeholders(d.raw, d.config, env),
        warnings: d.warnings,
      })),
    };
    if (
      stored.global === NOT_STORABLE ||
      stored.channels.some(([, c]) => c === NOT_STORABLE) ||
      stored.detectors.some((d) => d.config === NOT_STORABLE) ||
      !plainJson(stored)
    ) return;
    const body = JSON.stringify(stored);
    // Belt and braces: no looked-up value that could be a secret is in the file.
    for (const value of looked.values()) {
      if (
        value !== undefined && value.length >= 4 &&
        (body.includes(value) ||
          body.includes(JSON.stringify(value).slice(1, -1)))
      ) return;
    }
    const files: [string, string][] = [
      [file, text],
      ...sources.detectors.texts,
    ];
    const salt = crypto.randomUUID();
    const names = [...looked.keys()].sort();
    const entry: CacheFile = {
      format: FORMAT,
      key: await keyOf({
        code,
        only,
        files,
        listing: sources.detectors.listing,
        env: names.map((name) => [name, looked.get(name)]),
        salt,
      }),
      salt,
      files: files.map(([f]) => f),
      listing: sources.detectors.listing,
      env: names,
      channelTypes: sources.registry?.names("channel") ?? null,
      global: stored.global as GlobalConfig,
      globalWarnings: sources.globalWarnings,
      channels: stored.channels as [string, ChannelConfig][],
      detectors: stored.detectors as CacheFile["detectors"],
    };
    if (!(await Deno.stat(global.data_dir)).isDirectory) return;
    const path = await cacheFile(global.data_dir, file, only);
    await Deno.mkdir(dirname(path), { recursive: true });
    const temporary = `${path}.${crypto.randomUUID()}.tmp`;
    try {
      await Deno.writeTextFile(temporary, JSON.stringify(entry), {
        mode: 0o600,
      });
      await Deno.rename(temporary, path);
    } catch {
      await Deno.remove(temporary).catch(() => {});
    }
  } catch {
    // no cache: a missing or read-only data_dir, a denied permission
  }
}

const NOT_STORABLE = Symbol("not storable");

function holdsEnv(raw: unknown): boolean {
  if (typeof raw === "string") return raw.includes("${env:");
  if (Array.isArray(raw)) return raw.some(holdsEnv);
  if (raw && typeof raw === "object") return Object.values(raw).some(holdsEnv);
  return false;
}

/**
 * `real` (a validated value) with every string that held `${env:NAME}` in `raw` (its source) put back
 * as that text; NOT_STORABLE when such a string did not come through the schema unchanged.
 */
function placeholders(
  raw: unknown,
  real: unknown,
  env: (name: string) => string | undefined,
): unknown {
  if (!holdsEnv(raw)) return real;
  if (typeof raw === "string") {
    const value = substituteEnv(raw, { env, onMissing: () => {} });
    return real === value ? raw : NOT_STORABLE;
  }
  if (Array.isArray(raw)) {
    if (!Array.isArray(real) || real.length !== raw.length) return NOT_STORABLE;
    const out = raw.map((r, i) => placeholders(r, real[i], env));
    return out.includes(NOT_STORABLE) ? NOT_STORABLE : out;
  }
  if (!raw || typeof raw !== "object" || !real || typeof real !== "object") {
    return NOT_STORABLE;
  }
  const source = raw as Record<string, unknown>;
  const out: Record<string, unknown> = { ...real as Record<string, unknown> };
  for (const [key, value] of Object.entries(source)) {
    if (!holdsEnv(value)) continue;
    if (!(key in out)) return NOT_STORABLE;
    out[key] = placeholders(value, out[key], env);
    if (out[key] === NOT_STORABLE) return NOT_STORABLE;
  }
  return out;
}

/** True when JSON keeps `value` exactly: plain objects and arrays of strings, finite numbers, booleans, null. */
function plainJson(value: unknown): boolean {
  if (
    value === null || typeof value === "string" || typeof value === "boolean"
  ) {
    return true;
  }
  if (typeof value === "number") return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(plainJson);
  if (typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  return Object.values(value).every((v) => v !== undefined && plainJson(v));
}
