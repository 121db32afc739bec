/**
 * The catalogue of built-ins (`core/plugins/catalogue.ts`) against the plugins themselves: every row's
 * module is imported by its path and its own declaration (`name`, `aliases`, the kind's shape) must match
 * the row; every built-in module is in the catalogue once; `bundle.ts` preloads every row's path.
 */
import assert from "node:assert/strict";
import { CATALOGUE } from "../core/plugins/catalogue.ts";
import { importLazy } from "../core/lazy.ts";
import { pluginProblem } from "../core/plugins/registry.ts";

const root = new URL("..", import.meta.url).pathname;

Deno.test("CATALOGUE rows match each built-in's own name and aliases", async () => {
  for (const row of CATALOGUE) {
    const mod = await importLazy<{ default: unknown }>(row.path);
    assert.equal(pluginProblem(mod.default, row.kind), undefined, row.path);
    const plugin = mod.default as { name: string; aliases?: string[] };
    assert.equal(plugin.name, row.name, `${row.path}: name`);
    assert.equal(
      typeof (plugin as { check?: unknown }).check === "function",
      row.checks === true,
      `${row.path}: a check hook exactly when its catalogue row says checks: true`,
    );
    assert.deepEqual(
      plugin.aliases,
      [...row.aliases],
      `${row.path}: aliases (declare them in the plugin and in its catalogue row)`,
    );
  }
});

Deno.test("CATALOGUE lists every built-in module once, with unique names", async () => {
  const modules: string[] = [];
  for (const dir of ["enrichments", "actions"]) {
    for await (const entry of Deno.readDir(`${root}/${dir}`)) {
      if (
        entry.isFile && /\.ts$/.test(entry.name) &&
        !entry.name.startsWith("_") && !entry.name.endsWith("_test.ts")
      ) modules.push(`${dir}/${entry.name}`);
    }
  }
  assert.deepEqual(CATALOGUE.map((row) => row.path).sort(), modules.sort());
  for (const kind of ["enrichment", "action"]) {
    const names = CATALOGUE.filter((row) => row.kind === kind).flatMap((
      row,
    ) => [row.name, ...row.aliases]);
    assert.equal(new Set(names).size, names.length, `${kind} names are unique`);
  }
});

Deno.test("bundle.ts preloads every catalogue path", async () => {
  const bundle = await Deno.readTextFile(`${root}/bundle.ts`);
  const preloaded = new Set(
    [...bundle.matchAll(/^\s*"([\w/]+\.ts)":\s*\w+,$/gm)].map((m) => m[1]),
  );
  for (const row of CATALOGUE) {
    assert.ok(preloaded.has(row.path), `bundle.ts preloads "${row.path}"`);
  }
});
