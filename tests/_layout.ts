/**
 * The import graph of Blitz's source files and the layout rules it must keep (tests/layout_test.ts).
 *
 * An edge is any import a file names by a literal: `import … from`, `import type … from`, `export … from`,
 * a side-effect `import "…"`, `import("…")` (also in type position), and `importLazy("…")` (a path from
 * the project root). Package specifiers (`npm:`, `hono`, `node:`) are not edges. Lines that are comments
 * (doc examples) are skipped. Tests, fixtures and test data are not source; bench/ is, and may use the
 * test helpers (`tests/_*.ts`).
 *
 * @module
 */

/** File (path from the project root) → the project files it imports. */
export type ImportGraph = Map<string, Set<string>>;

/** What in a file's text names another module, as written. */
export function importSpecifiers(source: string): string[] {
  const code = source.split("\n").filter((line) => {
    const t = line.trimStart();
    return !(t.startsWith("*") || t.startsWith("/*") || t.startsWith("//"));
  }).join("\n");
  const found: string[] = [];
  const patterns = [
    // import x from "…", import type { X } from "…", export { x } from "…", export * from "…"
    /^\s*(?:import|export)\s+(?:type\s+)?[\w\s{},*$]*?\s*from\s*["']([^"']+)["']/gm,
    // import "…"
    /^\s*import\s*["']([^"']+)["']/gm,
    // import("…"), typeof import("…")
    /\bimport\s*\(\s*["']([^"']+)["']/g,
  ];
  for (const pattern of patterns) {
    for (const m of code.matchAll(pattern)) found.push(m[1]!);
  }
  for (
    const m of code.matchAll(
      /\bimportLazy\s*(?:<[^>]*>)?\s*\(\s*["']([^"']+)["']/g,
    )
  ) {
    if (!m[1]!.startsWith("npm:")) found.push(`/${m[1]!}`);
  }
  return found;
}

/** Resolves a specifier of `from` (a root-relative path) to a root-relative path, or undefined for packages. */
export function resolveSpecifier(
  from: string,
  specifier: string,
): string | undefined {
  if (specifier.startsWith("/")) return specifier.slice(1);
  if (!specifier.startsWith("./") && !specifier.startsWith("../")) {
    return undefined;
  }
  const url = new URL(specifier, `file:///${from}`);
  return decodeURIComponent(url.pathname.slice(1));
}

/** Whether a root-relative path is a source file: not a test, a test helper, a fixture or build output. */
export function isSource(path: string): boolean {
  return /\.(ts|tsx)$/.test(path) && !/(^|\/)[^/]*_test\.tsx?$/.test(path) &&
    !/^(tests|dist|data|node_modules)\//.test(path) &&
    !/(^|\/)(fixtures|testdata)\//.test(path);
}

/** Reads the import graph of every source file below `root` (a directory path). */
export async function readImportGraph(root: string): Promise<ImportGraph> {
  const graph: ImportGraph = new Map();
  async function walk(dir: string): Promise<void> {
    for await (const entry of Deno.readDir(`${root}/${dir}`)) {
      const path = dir ? `${dir}/${entry.name}` : entry.name;
      if (entry.isDirectory) {
        if (!/^(\.|node_modules$|dist$|data$)/.test(entry.name)) {
          await walk(path);
        }
      } else if (entry.isFile && isSource(path)) {
        const source = await Deno.readTextFile(`${root}/${path}`);
        const edges = new Set<string>();
        for (const specifier of importSpecifiers(source)) {
          const target = resolveSpecifier(path, specifier);
          if (target !== undefined) edges.add(target);
        }
        graph.set(path, edges);
      }
    }
  }
  await walk("");
  return graph;
}

/** Every import cycle (one per strongly connected component), as paths that start and end at one file. */
export function findCycles(graph: ImportGraph): string[][] {
  // Tarjan's strongly connected components; a component of two or more files (or a self-import) holds a cycle.
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  function connect(v: string): void {
    indices.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indices.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, indices.get(w)!));
      }
    }
    if (low.get(v) !== indices.get(v)) return;
    const component = new Set<string>();
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.add(w);
    } while (w !== v);
    if (component.size > 1 || graph.get(v)?.has(v)) {
      cycles.push(cycleIn(graph, component, v));
    }
  }
  for (const v of [...graph.keys()].sort()) {
    if (!indices.has(v)) connect(v);
  }
  return cycles;
}

/** One concrete cycle through `start` inside a strongly connected component (breadth-first, shortest). */
function cycleIn(
  graph: ImportGraph,
  component: Set<string>,
  start: string,
): string[] {
  const previous = new Map<string, string>();
  const queue = [start];
  while (queue.length) {
    const v = queue.shift()!;
    for (const w of [...(graph.get(v) ?? [])].sort()) {
      if (!component.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let at = v; at !== start; at = previous.get(at)!) {
          path.splice(1, 0, at);
        }
        return [...path, start];
      }
      if (!previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

/**
 * Imports that break the layout: `core/` reaching a door or a plugin, a built-in plugin reaching into
 * `core/` past the plugin contract, or a `_` file used outside its folder.
 */
export function layoutProblems(graph: ImportGraph): string[] {
  const problems: string[] = [];
  const folder = (path: string) => path.slice(0, path.lastIndexOf("/") + 1);
  for (const [from, targets] of [...graph].sort(([a], [b]) => a < b ? -1 : 1)) {
    for (const to of [...targets].sort()) {
      if (
        from.startsWith("core/") &&
        /^(enrichments|actions|routes|cli)\//.test(to)
      ) {
        problems.push(
          `${from} imports ${to}: core/ must not import enrichments/, actions/, routes/ or cli/`,
        );
      }
      if (
        /^(enrichments|actions)\//.test(from) && to.startsWith("core/") &&
        to !== "core/plugin.ts"
      ) {
        problems.push(
          `${from} imports ${to}: built-in plugins import core/plugin.ts only (the plugin contract re-exports what they need)`,
        );
      }
      const name = to.slice(to.lastIndexOf("/") + 1);
      // Test helpers (tests/_*.ts) are shared with bench/.
      if (
        name.startsWith("_") && folder(from) !== folder(to) &&
        !to.startsWith("tests/")
      ) {
        problems.push(
          `${from} imports ${to}: files starting with "_" are private to their folder (${
            folder(to) || "./"
          }); import the folder's face instead`,
        );
      }
    }
  }
  return problems;
}
