/**
 * `blitz check` on `plugin_dirs` plugins (issue 16): each is loaded in a sandbox child process, as
 * `serve` loads it, and a load error names the file and the fix; a plugin's own `check` hook runs too,
 * like a built-in's, but in a sandbox child (no permission beyond reading its modules), and its
 * problems are reported at the detector's path. Through the CLI with the check task's permissions.
 */
import assert from "node:assert/strict";
import { check, errors } from "./_check.ts";
import { shown } from "./_task.ts";

const DETECTOR = {
  subject: "Alert {ip}",
  enrichments: [{ e_name: "TI", e_func: "ti", e_key: "ip", e_args: {} }],
};

Deno.test("check loads plugin_dirs plugins in the sandbox: each load error names the file and the fix", async () => {
  const lines = errors(
    await check({
      global: { plugin_dirs: ["plugins"], plugin_memory_mb: 48 },
      files: {
        "plugins/home.ts":
          `const home = Deno.env.get("HOME");\nexport default { name: "home", run: () => home };\n`,
        "plugins/hog.ts":
          `const kept = []; for (;;) kept.push({ s: "x" + Math.random() });\nexport default { name: "hog", run: () => 1 };\n`,
        "plugins/lost.ts":
          `import { x } from "./nowhere.ts";\nexport default { name: "lost", run: () => x };\n`,
        "plugins/bare.ts": `export const x = 1;\n`,
      },
    }),
  );
  assert.deepEqual(lines, [
    `error: <dir>/plugins/bare.ts: (plugin): could not find a default export with a run(params, ctx) function; use "export default defineEnrichment({ name, run })"`,
    `error: <dir>/plugins/hog.ts: (plugin): cannot import: plugin crashed: out of memory (cap 48 MB); its top-level code allocated past plugin_memory_mb (48 MB): move the work into run() or raise plugin_memory_mb`,
    `error: <dir>/plugins/home.ts: (plugin): cannot import: permission denied: env access to "HOME"; a plugin's top-level code runs with no permissions: move that access into run() and declare it in permissions.env`,
    `error: <dir>/plugins/lost.ts: (plugin): cannot import: Module not found "file://<dir>/plugins/nowhere.ts"; check the import path (relative to the plugin's file)`,
  ]);
});

Deno.test("check runs a plugin_dirs plugin's own check() in the sandbox, for every config that names it", async () => {
  // The hook reports what it may read: the check task has --allow-env, its sandbox child does not.
  const plugin = `export default {
  name: "ti",
  positional: ["ip"],
  check(config, ctx) {
    let env = "readable";
    try { Deno.env.get("HOME"); } catch (err) { env = err.name; }
    const out = [];
    if (!/^https:\\/\\//.test(String(config.url))) {
      out.push({ path: "url", message: "must be an https:// URL, not " + JSON.stringify(config.url) + " (HOME: " + env + ")" });
    }
    if (!ctx.settings.api_key) out.push({ message: "needs plugins.ti.api_key (detector " + ctx.detector + ")" });
    return out;
  },
  run: () => 1,
};
`;
  const detectors = {
    one: {
      ...DETECTOR,
      enrichments: [
        { ...DETECTOR.enrichments[0], e_args: { url: "ftp://ti.example" } },
      ],
    },
    two: {
      ...DETECTOR,
      enrichments: [{
        ...DETECTOR.enrichments[0],
        e_args: { url: "https://ti.example/{ip}" },
      }],
    },
  };
  const lines = errors(
    await check({
      global: { plugin_dirs: ["plugins"] },
      files: { "plugins/ti.ts": plugin },
      detectors,
    }),
  );
  assert.deepEqual(lines.sort(), [
    `error: <dir>/detectors/one.yaml: one.enrichments[0].e_args.url: must be an https:// URL, not "ftp://ti.example" (HOME: NotCapable)`,
    "error: <dir>/detectors/one.yaml: one.enrichments[0].e_args: needs plugins.ti.api_key (detector one)",
    "error: <dir>/detectors/two.yaml: two.enrichments[0].e_args: needs plugins.ti.api_key (detector two)",
  ]);

  const fixed = await check({
    global: { plugin_dirs: ["plugins"], plugins: { ti: { api_key: "k" } } },
    files: { "plugins/ti.ts": plugin },
    detectors: {
      one: detectors.two,
    },
  });
  assert.equal(fixed.code, 0, shown(fixed));
  assert.match(fixed.stdout, /^ok: .*1 detector\(s\) \(one\), 1 enrichment/);
});

Deno.test("check reports a plugin_dirs check() that throws, naming the plugin's file", async () => {
  const lines = errors(
    await check({
      global: { plugin_dirs: ["plugins"] },
      files: {
        "plugins/ti.ts":
          `export default { name: "ti", positional: ["ip"], check() { throw new Error("no rules file"); }, run: () => 1 };\n`,
      },
      detectors: { one: DETECTOR },
    }),
  );
  assert.deepEqual(lines, [
    `error: <dir>/detectors/one.yaml: one.enrichments[0].e_args: the check() of "ti" (<dir>/plugins/ti.ts) failed: no rules file`,
  ]);
});
