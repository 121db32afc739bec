/**
 * The YAML parser, loaded on first use. Deno resolves the npm `yaml` package to its CommonJS build
 * (the "node" export condition), which takes about twice as long to load as its ES module build; when
 * the project's node_modules holds the package, its ES module build is imported directly (same
 * version, from the lockfile), else the npm package. Start-up time matters: one process per alert.
 *
 * @module
 */
import { importLazy } from "../lazy.ts";

type Parse = (
  text: string,
  options?: { prettyErrors?: boolean; uniqueKeys?: boolean },
) => unknown;

let parser: Promise<Parse> | undefined;

/** The `parse` function of the `yaml` package. */
export function yamlParser(): Promise<Parse> {
  return parser ??= (async () => {
    try {
      const esm =
        new URL("../../node_modules/yaml/browser/index.js", import.meta.url)
          .href;
      return (await import(esm) as { parse: Parse }).parse;
    } catch {
      return (await importLazy<{ parse: Parse }>("npm:yaml")).parse;
    }
  })();
}
