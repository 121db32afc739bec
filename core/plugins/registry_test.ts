import assert from "node:assert/strict";
import { ConfigError } from "../errors.ts";
import { EnrichmentCache, runEnrichments } from "../pipeline/enrich.ts";
import { loadRegistry, pluginProblem, PluginRegistry } from "./registry.ts";
import { createSandboxInvoker } from "./sandbox/sandbox.ts";
import { loadConfig } from "../config/config.ts";
import { writeProject } from "../../tests/_config.ts";

const PLUGINS =
  new URL("../../tests/fixtures/plugins/", import.meta.url).pathname;

async function configError(promise: Promise<unknown>): Promise<ConfigError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
    return err;
  }
  assert.fail("expected a ConfigError, got success");
}

Deno.test("loadRegistry() adds plugin_dirs modules: top-level files as enrichments, actions/ as actions", async () => {
  const registry = await loadRegistry([`${PLUGINS}good`]);
  assert.ok(registry.hasEnrichment("echo"));
  assert.ok(registry.hasEnrichment("echo_alias"), "aliases are registered");
  assert.ok(registry.hasEnrichment("always_fails"));
  assert.ok(registry.hasAction("stamp"));
  assert.ok(
    !registry.hasEnrichment("stamp"),
    "a module in actions/ is not an enrichment",
  );
  assert.ok(!registry.hasAction("echo"), "a top-level module is not an action");
  // Built-ins stay.
  assert.ok(registry.hasEnrichment("reverse_dns"));
  assert.ok(registry.hasAction("pass_to_mail"));
  const entry = registry.enrichment("echo_alias");
  assert.equal(entry.name, "echo");
  assert.equal(entry.builtin, false);
  assert.equal(
    entry.url,
    new URL("../../tests/fixtures/plugins/good/echo.ts", import.meta.url).href,
  );
  // Custom plugins load as stand-ins that only the sandbox can run.
  const entry2 = registry.action("stamp");
  const action = await entry2.load();
  assert.throws(
    () => action.run({ value: "x" }, undefined as never),
    /runs only in the sandbox/,
  );
  const sandbox = createSandboxInvoker();
  try {
    const ctx = {
      alert: {},
      alertId: "a1",
      detector: "det",
      args: [],
      settings: {},
    };
    assert.deepEqual(
      // deno-lint-ignore no-explicit-any
      await sandbox.invoke(entry2 as any, action, { value: "x" }, ctx, {
        timeoutMs: 10_000,
      }),
      {
        stamped: "x",
      },
    );
  } finally {
    await sandbox.close();
  }
});

Deno.test("loadRegistry() skips helper files that start with _", async () => {
  const registry = await loadRegistry([`${PLUGINS}good`]);
  assert.ok(!registry.names("enrichment").includes("_shared"));
  assert.ok(
    !registry.names("enrichment").some((name) => name.includes("shared")),
  );
});

Deno.test("loadRegistry() rejects a module without a default export, naming the file with a hint", async () => {
  const err = await configError(loadRegistry([`${PLUGINS}no_default`]));
  assert.equal(err.problems.length, 1);
  const file = `${PLUGINS}no_default/oops.ts`;
  assert.equal(
    err.problems[0],
    `${file}: (plugin): could not find a default export with a run(params, ctx) function; ` +
      `use "export default defineEnrichment({ name, run })"`,
  );
});

Deno.test("loadRegistry() rejects a default export without run(), naming the file with a hint", async () => {
  const err = await configError(loadRegistry([`${PLUGINS}no_run`]));
  assert.equal(
    err.problems[0],
    `${PLUGINS}no_run/norun.ts: (plugin): could not find a default export with a run(params, ctx) function; ` +
      `use "export default defineEnrichment({ name, run })"`,
  );
});

Deno.test("loadRegistry() hints defineAction for a bad module in actions/", async () => {
  const err = await configError(loadRegistry([`${PLUGINS}bad_action`]));
  assert.equal(err.problems.length, 1);
  assert.ok(
    err.problems[0]!.startsWith(
      `${PLUGINS}bad_action/actions/noact.ts: (plugin): `,
    ),
    String(err.problems[0]),
  );
  assert.match(err.problems[0]!, /defineAction\(\{ name, run \}\)/);
});

Deno.test("loadRegistry() rejects a plugin dir that does not exist", async () => {
  const missing = `${PLUGINS}does_not_exist`;
  const err = await configError(loadRegistry([missing]));
  assert.deepEqual(err.problems, [
    `${missing}: (plugin_dirs): folder does not exist`,
  ]);
});

Deno.test("pluginProblem() explains each malformed default export", () => {
  assert.equal(
    pluginProblem({ name: "ok", run() {} }, "enrichment"),
    undefined,
  );
  assert.match(
    pluginProblem(undefined, "action")!,
    /could not find a default export; use "export default defineAction/,
  );
  assert.match(
    pluginProblem({ name: "has space", run() {} }, "enrichment")!,
    /needs a name/,
  );
  assert.match(
    pluginProblem({ name: "p", run() {}, aliases: "x" }, "enrichment")!,
    /aliases must be a list of strings/,
  );
  assert.match(
    pluginProblem({ name: "p", run() {}, params: {} }, "enrichment")!,
    /params must be a zod schema/,
  );
  assert.match(
    pluginProblem({ name: "p", run() {}, positional: [1] }, "enrichment")!,
    /positional must be a list/,
  );
  assert.match(
    pluginProblem({ name: "p", run() {}, timeoutMs: 0 }, "enrichment")!,
    /timeoutMs must be a positive/,
  );
  assert.match(
    pluginProblem({ name: "p", run() {}, permissions: null }, "enrichment")!,
    /permissions must be an object/,
  );
});

Deno.test("pluginProblem() lets a plugin read only the shareable config", () => {
  const plugin = (reads: unknown) => ({ name: "p", run() {}, reads });
  assert.equal(
    pluginProblem(plugin({ global: ["databases"] }), "action"),
    undefined,
  );
  assert.equal(
    pluginProblem(
      plugin({ detector: ["custom_enrichment_data"] }),
      "enrichment",
    ),
    undefined,
  );
  assert.match(
    pluginProblem(plugin({ global: ["action_keys"] }), "enrichment")!,
    /"action_keys" cannot be shared with plugins; allowed: databases/,
  );
  assert.match(
    pluginProblem(plugin({ global: ["smtp"] }), "action")!,
    /"smtp" cannot be shared/,
  );
  assert.match(
    pluginProblem(plugin({ secrets: ["x"] }), "enrichment")!,
    /reads\.secrets: unknown section; use "global" or "detector"/,
  );
  assert.match(
    pluginProblem(plugin(["databases"]), "enrichment")!,
    /reads must be an object/,
  );
  assert.match(
    pluginProblem(plugin({ global: "databases" }), "enrichment")!,
    /reads\.global must be a list/,
  );
});

Deno.test("PluginRegistry.suggest() proposes the closest known name", () => {
  const registry = new PluginRegistry();
  for (const name of ["reverse_dns", "whois"]) {
    registry.addEnrichment({
      name,
      aliases: [],
      url: `test:${name}`,
      builtin: false,
      load: () => Promise.reject(),
    });
  }
  assert.equal(
    registry.suggest("enrichment", "revrse_dns"),
    `; did you mean "reverse_dns"? (known: reverse_dns, whois)`,
  );
  assert.equal(
    registry.suggest("enrichment", "geoip_city_lookup"),
    " (known: reverse_dns, whois)",
  );
  assert.throws(() => registry.enrichment("nope"), RangeError);
});

Deno.test("runEnrichments() gives a plain-object plugin with no imports ctx.args from e_key and e_args with placeholders filled", async () => {
  const registry = await loadRegistry([`${PLUGINS}good`]);
  const sandbox = createSandboxInvoker();
  const [result] = await runEnrichments([{
    e_name: "Echo",
    e_func: "echo_alias",
    e_key: "src_ip, user.name",
    enabled: true,
    e_args: { query: "user={user.name}", limit: 5 },
  }], {
    alert: { src_ip: "192.0.2.7", user: { name: "alice" } },
    alertId: "a1",
    detector: "det",
    registry,
    cache: new EnrichmentCache(),
    settingsFor: (plugin) => (plugin.name === "echo" ? { region: "eu" } : {}),
    defaults: { timeoutMs: 10_000, ttlMs: 0 },
    invoker: sandbox,
  }).finally(() => sandbox.close());
  assert.equal(result!.status, "ok", String(result!.error));
  assert.deepEqual(result!.data, {
    params: { query: "user=alice", limit: 5 },
    args: ["192.0.2.7", "alice"],
    detector: "det",
    settings: { region: "eu" },
  });
});

Deno.test("loadConfig() accepts e_func names from plugin_dirs resolved against the config folder", async () => {
  const echo = await Deno.readTextFile(`${PLUGINS}good/echo.ts`);
  const project = await writeProject({
    global: { plugin_dirs: ["plugins"] },
    detectors: {
      det: { enrichments: [{ e_name: "Echo", e_func: "echo", e_key: "ip" }] },
    },
    files: { "plugins/echo.ts": echo },
  });
  try {
    let seen: string[] = [];
    const config = await loadConfig({
      path: project.config,
      env: (name) => project.env[name],
      registry: async (global) => {
        seen = global.plugin_dirs;
        return await loadRegistry(global.plugin_dirs);
      },
    });
    assert.deepEqual(seen, [`${project.dir}/plugins`]);
    assert.equal(
      config.detectors.get("det")!.blocks[0]!.entries[0]!.e_func,
      "echo",
    );
  } finally {
    await project.cleanup();
  }
});
