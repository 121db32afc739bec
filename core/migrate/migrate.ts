/**
 * `migrate`: the original Blitz's `mail_conf.py` → `blitz.yaml` plus one `detectors/<device>.yaml` per
 * device, keys verbatim. Read top to bottom: parse (a safe Python-literal subset, never evaluated), map
 * the globals, then each device: literal secrets to `${env:NAME}`, conditional-enrichment keys from
 * Python to CEL (or a `TODO(migrate): <original>` key that `check` refuses until a person rewrites it).
 *
 * The output depends only on the input (no dates, stable names and order), so running it again over
 * its own output changes nothing.
 *
 * @module
 */
import { stringify } from "yaml";
import { compileCondition, TODO_CONDITION } from "../config/conditions.ts";
import { pythonToCel } from "./_condition.ts";
import { parseModule, type PyDict, type PyValue } from "./_literal.ts";
import { type EnvVar, extractSecrets, SecretNames } from "./_secrets.ts";
import { PySyntaxError } from "./_tokens.ts";

export { PySyntaxError } from "./_tokens.ts";
export type { EnvVar } from "./_secrets.ts";

/** One line per value: long strings and escapes (`\r\n` in queries) stay on their line. */
const YAML_OPTIONS = {
  lineWidth: 0,
  doubleQuotedMinMultiLineLength: Infinity,
} as const;

/** The variable `migrate` points `action_keys` at. */
export const ACTION_KEY_VAR = "BLITZ_ACTION_KEY";

/** What a migration produces. */
export interface Migration {
  /** Files to write, relative to the output folder, in a stable order. */
  files: { path: string; text: string }[];
  /** Environment variables the output reads (literal secrets moved out, the action key). */
  env: EnvVar[];
  /** Conditions kept as TODO: where, and the original Python. */
  todos: { file: string; detector: string; condition: string }[];
  /** Things a person should know (skipped statements, globals without an equivalent). */
  notes: string[];
}

const HEADER = (file: string) =>
  `# Migrated from ${file} by \`blitz migrate\`; keys are the original's, verbatim (README.md).\n` +
  `# Secrets are \${env:NAME} references: set those variables before \`blitz check\`.\n`;

/** Migrates `mail_conf.py` source; `file` names it in messages. Throws PySyntaxError on bad input. */
export function migrateMailConf(
  source: string,
  options: { file: string },
): Migration {
  const module = parseModule(source);
  const names = new SecretNames();
  const notes = module.skipped.map((s) =>
    `skipped ${s} (imports are not needed)`
  );
  const todos: Migration["todos"] = [];
  const globals = new Map(module.assignments.map((a) => [a.name, a]));
  const sections: string[] = [HEADER(options.file)];
  const section = (key: string, value: unknown, comment?: string) =>
    sections.push(
      (comment ? `# ${comment}\n` : "") +
        stringify({ [key]: value }, YAML_OPTIONS),
    );

  for (const key of ["from_email", "to", "cc", "mail_colors"]) {
    const found = globals.get(key);
    if (found) section(key, found.value);
  }
  section(
    "public_url",
    "http://127.0.0.1:8080",
    "Base of every link in emails: set it to the URL analysts reach Blitz at.",
  );
  section("detectors_dir", "detectors");
  section(
    "data_dir",
    "data",
    "The store (blitz.db) and the file outbox; relative to this file.",
  );
  const security = globals.get("security_key");
  section(
    "action_keys",
    [{ id: "k1", secret: `\${env:${ACTION_KEY_VAR}}` }],
    security
      ? "security_key was the AES key of the original's mailto: buttons; those old links are not honoured.\n" +
        "# One-click links are signed with these keys instead: generate one, e.g. `head -c 32 /dev/urandom | base64`."
      : "One-click links are signed with these keys: generate one, e.g. `head -c 32 /dev/urandom | base64`.",
  );
  const esIndex = globals.get("mail_framework_es_index");
  if (esIndex) {
    sections.push(
      `# mail_framework_es_index: ${
        JSON.stringify(esIndex.value)
      } was where the original logged alerts;\n` +
        "# Blitz records every alert in its own store (data_dir), browsable at /alerts.\n",
    );
  }
  const known = new Set([
    "from_email",
    "to",
    "cc",
    "mail_colors",
    "security_key",
    "mail_framework_es_index",
    "devices",
  ]);
  for (const { name, at } of module.assignments) {
    if (known.has(name)) continue;
    notes.push(
      `${options.file}:${at.line}: "${name}" has no Blitz equivalent and was not migrated`,
    );
    sections.push(
      `# ${name} (line ${at.line} of ${options.file}) has no Blitz equivalent and was not migrated.\n`,
    );
  }

  const env: EnvVar[] = [{
    name: ACTION_KEY_VAR,
    origin: security
      ? "new: the key that signs one-click links (replaces security_key; generate a fresh one)"
      : "new: the key that signs one-click links (generate one)",
  }];
  const files: Migration["files"] = [{
    path: "blitz.yaml",
    text: sections.join("\n"),
  }];
  const devices = globals.get("devices");
  if (!devices) {
    notes.push(
      `${options.file}: no "devices = {...}" found: no detectors written`,
    );
  } else if (!(devices.value instanceof Map)) {
    throw new PySyntaxError(
      `"devices" must be a dict of device name to config`,
      devices.at,
    );
  } else {
    for (const [device, config] of devices.value) {
      if (!(config instanceof Map)) {
        throw new PySyntaxError(
          `device ${JSON.stringify(device)} must be a dict`,
          devices.at,
        );
      }
      const fileName = device.replace(/[^A-Za-z0-9_.-]/g, "_").replace(
        /^\./,
        "_",
      );
      const path = `detectors/${fileName}.yaml`;
      if (fileName !== device) {
        notes.push(`device "${device}" is written to ${path}`);
      }
      notes.push(...placeholderRecipients(config, { file: path, device }));
      const migrated = migrateDevice(config, {
        device,
        names,
        todos: (condition) =>
          todos.push({ file: path, detector: device, condition }),
      });
      files.push({
        path,
        text: HEADER(options.file) +
          stringify(new Map([[device, migrated]]), YAML_OPTIONS),
      });
    }
  }
  return { files, env: [...env, ...names.vars], todos, notes };
}

/** Recipients that are not addresses (the published sample's "PRIMARY_RECIPIENT"): `check` refuses them. */
function placeholderRecipients(
  config: PyDict,
  where: { file: string; device: string },
): string[] {
  const mailers = config.get("mailers");
  if (!(mailers instanceof Map)) return [];
  const notes: string[] = [];
  for (const key of ["to", "cc"]) {
    const value = mailers.get(key);
    const list = Array.isArray(value)
      ? value
      : value === undefined
      ? []
      : [value];
    list.forEach((address, i) => {
      if (typeof address !== "string" || !address.includes("@")) {
        notes.push(
          `${where.file}: ${where.device}.mailers.${key}[${i}]: ${
            JSON.stringify(address)
          } is not an email address: replace it (check refuses it)`,
        );
      }
    });
  }
  return notes;
}

/** One device: secrets out, conditions to CEL; everything else verbatim. */
function migrateDevice(
  config: PyDict,
  options: {
    device: string;
    names: SecretNames;
    todos: (condition: string) => void;
  },
): PyValue {
  const out = extractSecrets(config, {
    context: [options.device],
    path: `devices.${options.device}`,
    names: options.names,
  }) as PyDict;
  const enrichments = out.get("enrichments");
  if (
    out.get("enrichment_conditional") === true && enrichments instanceof Map
  ) {
    const blocks: PyDict = new Map();
    for (const [condition, entries] of enrichments) {
      blocks.set(celOf(condition, options.todos), entries);
    }
    out.set("enrichments", blocks);
  }
  return out;
}

/** A condition in CEL: already CEL (a second run), translated, or kept under the TODO marker. */
function celOf(condition: string, todo: (condition: string) => void): string {
  if (condition.startsWith(TODO_CONDITION)) {
    todo(condition.slice(TODO_CONDITION.length));
    return condition;
  }
  const translated = pythonToCel(condition);
  if (translated !== undefined && compiles(translated)) return translated;
  if (compiles(condition) && /\balert\b/.test(condition)) return condition;
  todo(condition);
  return TODO_CONDITION + condition;
}

function compiles(cel: string): boolean {
  try {
    compileCondition(cel);
    return true;
  } catch {
    return false;
  }
}

/** `file:line:col: message: hint`, then the source line and a caret under the column. */
export function formatSyntaxError(
  file: string,
  source: string,
  err: PySyntaxError,
): string[] {
  const { line, col } = err.at;
  const text =
    source.replace(/^\uFEFF/, "").split("\n")[line - 1]?.replace(/\r$/, "") ??
      "";
  const lead = Array.from(text).slice(0, col - 1).map((
    c,
  ) => (c === "\t" ? "\t" : " ")).join("");
  return [
    `${file}:${line}:${col}: ${err.message}${err.hint ? `: ${err.hint}` : ""}`,
    `  ${text}`,
    `  ${lead}^`,
  ];
}
