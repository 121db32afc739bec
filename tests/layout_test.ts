/**
 * The shape of the house (docs: issue 10's layout): the import graph of every source file has no cycle
 * (not even a type-only one), nothing in `core/` imports `enrichments/`, `actions/`, `routes/` or `cli/`,
 * built-in plugins import `core/plugin.ts` and nothing else of `core/`, and no file imports another
 * folder's `_` files. The checker itself is tested on small graphs first.
 */
import assert from "node:assert/strict";
import {
  findCycles,
  type ImportGraph,
  importSpecifiers,
  isSource,
  layoutProblems,
  readImportGraph,
  resolveSpecifier,
} from "./_layout.ts";

const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

function graphOf(edges: Record<string, string[]>): ImportGraph {
  const graph: ImportGraph = new Map();
  for (const [from, to] of Object.entries(edges)) {
    graph.set(from, new Set(to));
    for (const t of to) if (!graph.has(t)) graph.set(t, new Set());
  }
  return graph;
}

Deno.test("findCycles() finds a cycle in a synthetic graph and prints it in order", () => {
  const graph = graphOf({
    "core/a.ts": ["core/b.ts"],
    "core/b.ts": ["core/c.ts", "core/d.ts"],
    "core/c.ts": ["core/a.ts"],
    "core/d.ts": [],
    "core/self.ts": ["core/self.ts"],
  });
  assert.deepEqual(findCycles(graph), [
    ["core/a.ts", "core/b.ts", "core/c.ts", "core/a.ts"],
    ["core/self.ts", "core/self.ts"],
  ]);
  assert.deepEqual(
    findCycles(graphOf({ "a.ts": ["b.ts"], "b.ts": ["c.ts"] })),
    [],
  );
});

Deno.test("layoutProblems() flags core/ importing a door or a plugin, a plugin past core/plugin.ts, and a foreign _ file", () => {
  const problems = layoutProblems(graphOf({
    "core/pipeline/pipeline.ts": [
      "core/pipeline/_record.ts",
      "enrichments/whois.ts",
    ],
    "core/plugins/registry.ts": ["routes/app.ts", "core/store/sqlite/_x.ts"],
    "routes/http/body.ts": ["core/pipeline/_input.ts"],
    "enrichments/x.ts": ["core/plugin.ts", "core/safe_fetch/safe_fetch.ts"],
  }));
  assert.deepEqual(problems, [
    "core/pipeline/pipeline.ts imports enrichments/whois.ts: core/ must not import enrichments/, actions/, routes/ or cli/",
    'core/plugins/registry.ts imports core/store/sqlite/_x.ts: files starting with "_" are private to their folder (core/store/sqlite/); import the folder\'s face instead',
    "core/plugins/registry.ts imports routes/app.ts: core/ must not import enrichments/, actions/, routes/ or cli/",
    "enrichments/x.ts imports core/safe_fetch/safe_fetch.ts: built-in plugins import core/plugin.ts only (the plugin contract re-exports what they need)",
    'routes/http/body.ts imports core/pipeline/_input.ts: files starting with "_" are private to their folder (core/pipeline/); import the folder\'s face instead',
  ]);
});

Deno.test("importSpecifiers() reads every kind of import and skips comment lines", () => {
  const source = [
    "/**",
    ' * import { defineEnrichment } from "./doc_example.ts";',
    " */",
    'import { a } from "./a.ts";',
    'import type { B } from "../b.ts";',
    "import {",
    "  c,",
    "  type D,",
    '} from "./c.ts";',
    'export { e } from "./e.ts";',
    'export * from "./f.ts";',
    'import "./g.ts";',
    'import { z } from "zod";',
    'const h = await import("./h.ts");',
    'type I = typeof import("./i.ts");',
    'const j = importLazy("cli/j.ts");',
    'const k = importLazy<typeof import("./k.ts")>(',
    '  "core/k.ts",',
    ");",
    'const y = importLazy("npm:yaml");',
    '// import { x } from "./commented.ts";',
  ].join("\n");
  assert.deepEqual(
    importSpecifiers(source).sort(),
    [
      "../b.ts",
      "./a.ts",
      "./c.ts",
      "./e.ts",
      "./f.ts",
      "./g.ts",
      "./h.ts",
      "./i.ts",
      "./k.ts",
      "/cli/j.ts",
      "/core/k.ts",
      "zod",
    ].sort(),
  );
  assert.equal(
    resolveSpecifier("core/pipeline/pipeline.ts", "../plugin.ts"),
    "core/plugin.ts",
  );
  assert.equal(resolveSpecifier("main.ts", "/cli/ingest.ts"), "cli/ingest.ts");
  assert.equal(resolveSpecifier("main.ts", "zod"), undefined);
  assert.equal(isSource("core/ip.ts"), true);
  assert.equal(isSource("core/ip_test.ts"), false);
  assert.equal(isSource("tests/_layout.ts"), false);
  assert.equal(isSource("tests/fixtures/plugins/good/echo.ts"), false);
});

Deno.test("the source import graph has no cycle", async () => {
  const graph = await readImportGraph(root);
  assert.ok(graph.has("core/plugin.ts") && graph.size > 100, "read the tree");
  const cycles = findCycles(graph);
  assert.deepEqual(
    cycles.map((cycle) => cycle.join(" → ")),
    [],
    `import cycles (the type lives in the lower file; the higher one re-exports it):\n${
      cycles.map((cycle) => `  ${cycle.join(" → ")}`).join("\n")
    }`,
  );
});

Deno.test("core/ imports no door or plugin, plugins only the contract, and no file another folder's _ files", async () => {
  const problems = layoutProblems(await readImportGraph(root));
  assert.deepEqual(problems, [], problems.join("\n"));
});
