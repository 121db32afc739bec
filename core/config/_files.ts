/**
 * Reading config files: a YAML or JSON file (a parse error is a problem naming the file), the
 * detector files in `detectors_dir`, and a detector module (`.ts`) with its default export checked.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import type { DetectorModule } from "../plugin.ts";
import { join, toFileUrl } from "../paths.ts";
import { yamlParser } from "./yaml.ts";

/**
 * Parses a `.json` file as JSON and any other as YAML; throws ConfigError on a parse error. `texts`
 * gets the file's text (what the config cache's key is made of).
 */
export async function readStructured(
  file: string,
  texts?: Map<string, string>,
): Promise<unknown> {
  const text = await Deno.readTextFile(file);
  texts?.set(file, text);
  return parseStructured(file, text);
}

/** Parses `text`, the content of `file`, as {@link readStructured} does. */
export async function parseStructured(
  file: string,
  text: string,
): Promise<unknown> {
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
    throw new ConfigError([yamlProblem(file, text, err)]);
  }
}

/**
 * A YAML parse error as `<file>: (root): invalid YAML at line L, column C: <message>`, followed by the offending line
 * and a caret under the column (the parser's own message ends in "at line L, column C:").
 */
export function yamlProblem(file: string, text: string, err: unknown): string {
  const message = (err as Error).message.split("\n")[0]!
    .replace(/ at line \d+, column \d+:?$/, "").replace(/:$/, "");
  const pos = (err as { linePos?: { line: number; col: number }[] })
    .linePos?.[0];
  if (!pos) return `${file}: (root): invalid YAML: ${message}`;
  const line = (text.split(/\r?\n/)[pos.line - 1] ?? "").replace(/\t/g, " ");
  const caret = " ".repeat(Math.max(0, pos.col - 1)) + "^";
  return `${file}: (root): invalid YAML at line ${pos.line}, column ${pos.col}: ${message}\n  ${line}\n  ${caret}`;
}

/** The detector files (`.yaml`, `.yml`, `.json`, `.ts` but not `_test.ts`) in `dir`, sorted. */
export async function listDetectorFiles(dir: string): Promise<string[]> {
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

/** Imports a detector module; a problem is pushed to `problems` and `undefined` returned if it is unusable. */
export async function loadDetectorModule(
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
