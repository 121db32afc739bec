import assert from "node:assert/strict";
import { stringify } from "yaml";
import {
  colorOf,
  configPath,
  formatPath,
  loadConfig,
  type LoadedConfig,
} from "./config.ts";
import { ConfigError } from "../errors.ts";
import { preprocess } from "../pipeline/pipeline.ts";
import { loadRegistry } from "../plugins/registry.ts";
import { writeProject } from "../../tests/_config.ts";

const PLUGIN_TS = new URL("../plugin.ts", import.meta.url).href;

type Project = Awaited<ReturnType<typeof writeProject>>;

function load(
  project: Project,
  options: { env?: Record<string, string>; only?: string; registry?: boolean } =
    {},
) {
  const env = { ...project.env, ...options.env };
  return loadConfig({
    path: project.config,
    env: (name) => env[name],
    ...(options.only !== undefined ? { only: options.only } : {}),
    ...(options.registry === false
      ? {}
      : { registry: (g) => loadRegistry(g.plugin_dirs) }),
  });
}

async function problems(promise: Promise<LoadedConfig>): Promise<string[]> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
    return err.problems;
  }
  assert.fail("expected a ConfigError, got a loaded config");
}

function assertHas(list: string[], expected: string | RegExp) {
  const found = list.some((
    line,
  ) => (typeof expected === "string"
    ? line === expected
    : expected.test(line))
  );
  assert.ok(found, `expected a problem ${expected}\nin:\n${list.join("\n")}`);
}

Deno.test("loadConfig() substitutes ${env:NAME} in the global config and in detectors", async () => {
  const project = await writeProject({
    global: {
      smtp: "smtp://${env:SMTP_USER}:${env:SMTP_PASS}@127.0.0.1:2525",
      to: ["${env:SOC_TO}"],
    },
    detectors: {
      det: {
        enrichments: [{
          e_name: "Intel",
          e_func: "http_api",
          e_args: {
            url: "https://intel.test/{ip}",
            token: "${env:INTEL_TOKEN}",
          },
        }],
      },
    },
  });
  try {
    const config = await load(project, {
      env: {
        SMTP_USER: "relay-user",
        SMTP_PASS: "relay-pass-123",
        SOC_TO: "soc-team@example.test",
        INTEL_TOKEN: "intel-tok-456",
      },
    });
    assert.equal(
      config.global.smtp,
      "smtp://relay-user:relay-pass-123@127.0.0.1:2525",
    );
    assert.deepEqual(config.global.to, ["soc-team@example.test"]);
    assert.deepEqual(config.global.action_keys, [{
      id: "k1",
      secret: project.env.BLITZ_ACTION_KEY,
    }]);
    const entry = config.detectors.get("det")!.blocks[0]!.entries[0]!;
    assert.deepEqual(entry.e_args, {
      url: "https://intel.test/{ip}",
      token: "intel-tok-456",
    });
    assert.deepEqual(
      config.warnings,
      [],
      "values from ${env:} are not literal secrets",
    );
  } finally {
    await project.cleanup();
  }
});

Deno.test("loadConfig() names a missing environment variable and where it is used", async () => {
  const project = await writeProject({
    global: { smtp: "smtp://user:${env:BLITZ_TEST_UNSET_PASS}@127.0.0.1:25" },
  });
  try {
    assert.deepEqual(await problems(load(project)), [
      `${project.config}: smtp: environment variable BLITZ_TEST_UNSET_PASS is not set`,
    ]);
    const withoutKey = {
      ...project.env,
      BLITZ_ACTION_KEY: undefined,
    } as unknown as Record<string, string>;
    assertHas(
      await problems(
        loadConfig({ path: project.config, env: (name) => withoutKey[name] }),
      ),
      `${project.config}: action_keys[0].secret: environment variable BLITZ_ACTION_KEY is not set`,
    );
  } finally {
    await project.cleanup();
  }
});

Deno.test("loadConfig() names a missing environment variable used in a detector", async () => {
  const project = await writeProject({
    detectors: {
      det: {
        enrichments: [{
          e_name: "Intel",
          e_func: "http_api",
          e_args: { token: "${env:BLITZ_TEST_UNSET_TOKEN}" },
        }],
      },
    },
  });
  try {
    assert.deepEqual(await problems(load(project)), [
      `${project.dir}/detectors/det.yaml: det.enrichments[0].e_args.token: environment variable BLITZ_TEST_UNSET_TOKEN is not set`,
    ]);
  } finally {
    await project.cleanup();
  }
});

Deno.test("loadConfig() rejects typo keys with <file>: <path>: <message>", async () => {
  const project = await writeProject({
    global: { form_email: "blitz@example.test", delivery: { max_attempt: 3 } },
    detectors: {
      det: {
        subjet: "typo",
        mailers: { overide: true },
        enrichments: [{ e_name: "R", e_func: "reverse_dns" }, {
          e_name: "Q",
          e_fun: "reverse_dns",
        }],
        actions: {
          send: [["pass_to_mail", { enabled: "yes" }]],
          reply: [["Go", { colour: "red", actions: [["pass_to_mail", {}]] }]],
        },
      },
    },
  });
  try {
    const global = await problems(load(project));
    assertHas(
      global,
      `${project.config}: (root): Unrecognized key: "form_email"; did you mean "from_email"?`,
    );
    assertHas(
      global,
      `${project.config}: delivery: Unrecognized key: "max_attempt"; did you mean "max_attempts"?`,
    );
    assert.equal(global.length, 2);
    await Deno.writeTextFile(
      project.config,
      stringify({
        action_keys: [{ id: "k1", secret: "${env:BLITZ_ACTION_KEY}" }],
      }),
    );
    const detector = await problems(load(project));
    const file = `${project.dir}/detectors/det.yaml`;
    assertHas(
      detector,
      `${file}: det: Unrecognized key: "subjet"; did you mean "subject"?`,
    );
    assertHas(
      detector,
      `${file}: det.mailers: Unrecognized key: "overide"; did you mean "override"?`,
    );
    // Inside a list-or-map and a tuple: the problem names the entry and the key, not a bare "Invalid input".
    assertHas(
      detector,
      `${file}: det.enrichments[1]: Unrecognized key: "e_fun"; did you mean "e_func"?`,
    );
    assertHas(
      detector,
      `${file}: det.actions.send[0][1].enabled: Invalid input: expected boolean, received string`,
    );
    assertHas(
      detector,
      `${file}: det.actions.reply[0][1]: Unrecognized key: "colour"; did you mean "color"?`,
    );
    assert.ok(
      !detector.some((line) => line.endsWith(": Invalid input")),
      detector.join("\n"),
    );
  } finally {
    await project.cleanup();
  }
});

Deno.test("loadConfig() reports each detector problem as <file>: <detector>.<path>: <message>", async () => {
  const project = await writeProject({
    global: { action_keys: undefined },
    files: {
      "detectors/all.yaml": stringify({
        bad_type: { include_json: "yes" },
        bad_func: {
          enrichments: [{ e_name: "R", e_func: "reverse_dsn", e_key: "ip" }],
        },
        bad_action: { actions: { send: [["pas_to_mail", { data: "x" }]] } },
        bad_cel: {
          enrichment_conditional: true,
          enrichments: {
            "alert.severity ==": [{ e_name: "R", e_func: "reverse_dns" }],
          },
        },
        not_bool_cel: {
          enrichment_conditional: true,
          enrichments: {
            "alert.count + 1": [{ e_name: "R", e_func: "reverse_dns" }],
          },
        },
        map_without_conditional: {
          enrichments: {
            'alert.severity == "high"': [{
              e_name: "R",
              e_func: "reverse_dns",
            }],
          },
        },
        list_with_conditional: {
          enrichment_conditional: true,
          enrichments: [{ e_name: "R", e_func: "reverse_dns" }],
        },
        reply_no_keys: {
          actions: {
            reply: [["Block", {
              color: "red",
              actions: [["pass_to_mail", {}]],
            }]],
          },
        },
        bad_color: {
          actions: {
            reply: [["Block", {
              color: "chartreuse",
              actions: [["pass_to_mail", {}]],
            }]],
          },
        },
        bad_reply_action: {
          actions: { reply: [["Block", { actions: [["jira_creat", {}]] }]] },
        },
        bad_duration: {
          enrichments: [{
            e_name: "R",
            e_func: "reverse_dns",
            timeout: "soon",
          }],
        },
      }),
    },
  });
  try {
    const list = await problems(load(project));
    const file = `${project.dir}/detectors/all.yaml`;
    assertHas(
      list,
      `${file}: bad_type.include_json: Invalid input: expected boolean, received string`,
    );
    assertHas(
      list,
      new RegExp(
        `^${
          escape(file)
        }: bad_func\\.enrichments\\[0\\]\\.e_func: unknown enrichment "reverse_dsn"; did you mean "reverse_dns"\\?`,
      ),
    );
    assertHas(
      list,
      new RegExp(
        `^${
          escape(file)
        }: bad_action\\.actions\\.send\\[0\\]: unknown action "pas_to_mail"; did you mean "pass_to_mail"\\?`,
      ),
    );
    assertHas(
      list,
      new RegExp(
        `^${
          escape(file)
        }: bad_cel\\.enrichments\\["alert\\.severity =="\\]: Invalid CEL condition: `,
      ),
    );
    assertHas(
      list,
      new RegExp(
        `^${
          escape(file)
        }: not_bool_cel\\.enrichments\\["alert\\.count \\+ 1"\\]: Invalid CEL condition: must be a bool`,
      ),
    );
    assertHas(
      list,
      new RegExp(
        `^${
          escape(file)
        }: map_without_conditional\\.enrichments: .*enrichment_conditional`,
      ),
    );
    assertHas(
      list,
      new RegExp(
        `^${
          escape(file)
        }: list_with_conditional\\.enrichments: must be a map of CEL condition`,
      ),
    );
    assertHas(
      list,
      `${file}: reply_no_keys.actions.reply: reply actions need action_keys in the global config to sign their links`,
    );
    assertHas(
      list,
      `${file}: bad_color.actions.reply[0].color: unknown color "chartreuse": use a hex value or a name from mail_colors`,
    );
    assertHas(
      list,
      new RegExp(
        `^${
          escape(file)
        }: bad_reply_action\\.actions\\.reply\\[0\\]\\.actions\\[0\\]: unknown action "jira_creat"; did you mean "jira_create"\\?`,
      ),
    );
    assertHas(
      list,
      new RegExp(
        `^${
          escape(file)
        }: bad_duration\\.enrichments\\[0\\]\\.timeout: Invalid duration "soon"`,
      ),
    );
  } finally {
    await project.cleanup();
  }
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

Deno.test("loadConfig() accepts colors from mail_colors, the defaults and hex", async () => {
  const reply = (color: string) => ({
    actions: { reply: [["Go", { color, actions: [["pass_to_mail", {}]] }]] },
  });
  const project = await writeProject({
    global: { mail_colors: { teal: "#008080" } },
    detectors: { a: reply("teal"), b: reply("orange"), c: reply("#123abc") },
  });
  try {
    const config = await load(project);
    assert.equal(
      colorOf(
        config.global,
        config.detectors.get("a")!.config.actions.reply[0]!.config.color,
      ),
      "#008080",
    );
    assert.equal(colorOf(config.global, "orange"), "#d9822b");
    assert.equal(colorOf(config.global, "#123abc"), "#123abc");
  } finally {
    await project.cleanup();
  }
});

Deno.test("loadConfig() resolves relative paths against the config file's folder", async () => {
  const project = await writeProject({
    global: {
      detectors_dir: "dets",
      data_dir: "var/blitz",
      plugin_dirs: ["plugins", "/opt/blitz/plugins"],
    },
    files: {
      "dets/d.yaml": stringify({ d: { subject: "x" } }),
      "plugins/.keep": "",
    },
  });
  try {
    assert.notEqual(
      Deno.cwd(),
      project.dir,
      "the test must not run inside the project",
    );
    const config = await loadConfig({
      path: project.config,
      env: (name) => project.env[name],
    });
    assert.equal(config.dir, project.dir);
    assert.equal(config.global.detectors_dir, `${project.dir}/dets`);
    assert.equal(config.global.data_dir, `${project.dir}/var/blitz`);
    assert.deepEqual(config.global.plugin_dirs, [
      `${project.dir}/plugins`,
      "/opt/blitz/plugins",
    ]);
    assert.deepEqual([...config.detectors.keys()], ["d"]);
  } finally {
    await project.cleanup();
  }
});

Deno.test("configPath() takes the option, else BLITZ_CONFIG, else ./blitz.yaml", async () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.equal(
    configPath("/etc/blitz/a.yaml", env({ BLITZ_CONFIG: "/etc/blitz/b.yaml" })),
    "/etc/blitz/a.yaml",
  );
  assert.equal(
    configPath(undefined, env({ BLITZ_CONFIG: "/etc/blitz/b.yaml" })),
    "/etc/blitz/b.yaml",
  );
  assert.equal(configPath(undefined, env({})), `${Deno.cwd()}/blitz.yaml`);
  const project = await writeProject({ detectors: { d: {} } });
  try {
    const config = await loadConfig({
      env: (
        name,
      ) => (name === "BLITZ_CONFIG" ? project.config : project.env[name]),
    });
    assert.equal(config.file, project.config);
  } finally {
    await project.cleanup();
  }
});

Deno.test("loadConfig() reports a missing config file", async () => {
  const missing = `${await Deno.makeTempDir()}/nope.yaml`;
  try {
    assert.deepEqual(
      await problems(loadConfig({ path: missing, env: () => undefined })),
      [
        `${missing}: (root): config file not found (use --config <path> or BLITZ_CONFIG)`,
      ],
    );
  } finally {
    await Deno.remove(missing.slice(0, missing.lastIndexOf("/")), {
      recursive: true,
    });
  }
});

Deno.test("loadConfig() accepts both tuple forms, [name, {…}] and {name: {…}}", async () => {
  const project = await writeProject({
    detectors: {
      det: {
        actions: {
          send: [
            ["pass_to_mail", { return_name: "a", data: "{x}" }],
            { pass_to_mail: { return_name: "b", data: "{y}", enabled: false } },
          ],
          reply: [
            ["Block IP", {
              color: "red",
              actions: [["pass_to_mail", { data: 1 }]],
            }],
            { "Open ticket": { actions: [{ pass_to_mail: { data: 2 } }] } },
          ],
        },
      },
    },
  });
  try {
    const { actions } = (await load(project)).detectors.get("det")!.config;
    assert.deepEqual(actions.send, [
      {
        name: "pass_to_mail",
        config: { return_name: "a", data: "{x}", enabled: true },
      },
      {
        name: "pass_to_mail",
        config: { return_name: "b", data: "{y}", enabled: false },
      },
    ]);
    assert.deepEqual(actions.reply, [
      {
        name: "Block IP",
        config: {
          color: "red",
          actions: [{
            name: "pass_to_mail",
            config: { data: 1, enabled: true },
          }],
        },
      },
      {
        name: "Open ticket",
        config: {
          color: "blue",
          actions: [{
            name: "pass_to_mail",
            config: { data: 2, enabled: true },
          }],
        },
      },
    ]);
  } finally {
    await project.cleanup();
  }
});

Deno.test("loadConfig() rejects an action map with more than one key", async () => {
  const project = await writeProject({
    detectors: {
      det: {
        actions: { send: [{ pass_to_mail: { data: 1 }, jira_create: {} }] },
      },
    },
  });
  try {
    assert.deepEqual(await problems(load(project)), [
      `${project.dir}/detectors/det.yaml: det.actions.send[0]: must have exactly one key`,
    ]);
  } finally {
    await project.cleanup();
  }
});

Deno.test("loadConfig() rejects a detector name defined in two files", async () => {
  const project = await writeProject({
    files: {
      "detectors/a.yaml": stringify({ dup: { subject: "first" } }),
      "detectors/b.yml": stringify({ dup: { subject: "second" } }),
    },
  });
  try {
    assert.deepEqual(await problems(load(project)), [
      `${project.dir}/detectors/b.yml: dup: detector already defined in ${project.dir}/detectors/a.yaml`,
    ]);
  } finally {
    await project.cleanup();
  }
});

Deno.test("loadConfig() loads a .json detector file", async () => {
  const project = await writeProject({
    files: {
      "detectors/from_json.json": JSON.stringify({
        json_det: {
          subject: "JSON {ip}",
          enrichments: [{ e_name: "R", e_func: "reverse_dns", e_key: "ip" }],
        },
      }),
      "detectors/broken.json": "{ not json",
    },
  });
  try {
    const list = await problems(load(project));
    assert.equal(list.length, 1);
    assert.match(
      list[0]!,
      new RegExp(
        `^${
          escape(project.dir)
        }/detectors/broken\\.json: \\(root\\): invalid JSON: `,
      ),
    );
    await Deno.remove(`${project.dir}/detectors/broken.json`);
    const detector = (await load(project)).detectors.get("json_det")!;
    assert.equal(detector.file, `${project.dir}/detectors/from_json.json`);
    assert.equal(detector.config.subject, "JSON {ip}");
    assert.equal(detector.blocks[0]!.entries[0]!.e_func, "reverse_dns");
  } finally {
    await project.cleanup();
  }
});

Deno.test("loadConfig() attaches a detectors/<name>.ts module whose preprocess reshapes the alert", async () => {
  const project = await writeProject({
    detectors: { reshaped: { subject: "From {ip_src_addr}" } },
    files: {
      "detectors/reshaped.ts": `import { defineDetector } from "${PLUGIN_TS}";
export default defineDetector({
  name: "reshaped",
  preprocess: (alert) => ({ ...alert, ip_src_addr: String(alert.src ?? ""), hops: Number(alert.hops ?? 0) + 1 }),
});
`,
    },
  });
  try {
    const detector = (await load(project)).detectors.get("reshaped")!;
    assert.equal(typeof detector.module?.preprocess, "function");
    const original = { src: "203.0.113.5" };
    assert.deepEqual(await preprocess(detector, original), {
      src: "203.0.113.5",
      ip_src_addr: "203.0.113.5",
      hops: 1,
    });
    assert.deepEqual(original, { src: "203.0.113.5" }, "the hook gets a copy");
  } finally {
    await project.cleanup();
  }
});

Deno.test("loadConfig() rejects a detector module without a matching config or a default export", async () => {
  const project = await writeProject({
    detectors: { real: {} },
    files: {
      "detectors/orphan.ts":
        `export default { name: "orphan", preprocess: (a: Record<string, unknown>) => a };\n`,
      "detectors/nodefault.ts": `export const x = 1;\n`,
    },
  });
  try {
    const list = await problems(load(project));
    assertHas(
      list,
      `${project.dir}/detectors/orphan.ts: orphan: detector module has no detector config of that name`,
    );
    assertHas(
      list,
      new RegExp(
        `^${
          escape(project.dir)
        }/detectors/nodefault\\.ts: \\(module\\): could not find a default export.*defineDetector`,
      ),
    );
  } finally {
    await project.cleanup();
  }
});

Deno.test("loadConfig() warns about literal secrets in committed config, not about ${env:} references", async () => {
  const project = await writeProject({
    global: {
      smtp: "smtp://relay:literal-pass@127.0.0.1:25",
      action_keys: [{ id: "k1", secret: "a-literal-signing-key-0123" }, {
        id: "k2",
        secret: "${env:BLITZ_ACTION_KEY}",
      }],
    },
    detectors: { d: {} },
  });
  try {
    const config = await load(project);
    assert.deepEqual(config.warnings.sort(), [
      `${project.config}: action_keys[0].secret: literal secret; use \${env:NAME}`,
      `${project.config}: smtp: literal secret; use \${env:NAME}`,
    ]);
  } finally {
    await project.cleanup();
  }
});

Deno.test("loadConfig() warns about an smtp URL whose credentials may go out in clear, and refuses ignore_tls=1 with credentials", async () => {
  const optOut = await writeProject({
    global: {
      smtp: "smtp://relay:${env:JIRA_TOKEN}@127.0.0.1:25?require_tls=0",
    },
    detectors: { d: {} },
  });
  const contradiction = await writeProject({
    global: {
      smtp: "smtp://relay:${env:JIRA_TOKEN}@127.0.0.1:25?ignore_tls=1",
    },
    detectors: { d: {} },
  });
  try {
    const config = await load(optOut);
    assert.deepEqual(config.warnings, [
      `${optOut.config}: smtp: require_tls=0 sends the SMTP credentials in clear when the server (or a man in the middle) does not offer STARTTLS; prefer smtps:// or a relay that offers STARTTLS`,
    ]);
    const list = await problems(load(contradiction));
    assert.equal(list.length, 1);
    assert.match(
      list[0]!,
      new RegExp(
        `^${
          RegExp.escape(contradiction.config)
        }: smtp: .*ignore_tls=1 would send the credentials in clear; add require_tls=0`,
      ),
    );
    assert.ok(!list[0]!.includes(contradiction.env.JIRA_TOKEN!));
  } finally {
    await optOut.cleanup();
    await contradiction.cleanup();
  }
});

Deno.test("loadConfig() with only loads one detector and names an unknown one", async () => {
  const project = await writeProject({
    detectors: { one: {}, two: { include_json: "broken" } },
  });
  try {
    const config = await load(project, { only: "one" });
    assert.deepEqual(
      [...config.detectors.keys()],
      ["one"],
      "a broken other detector does not block this one",
    );
    const list = await problems(load(project, { only: "three" }));
    assert.equal(list.length, 1);
    assert.match(list[0]!, /^Unknown detector "three"/);
  } finally {
    await project.cleanup();
  }
});

Deno.test("formatPath() writes zod paths as a.b[0].c", () => {
  assert.equal(
    formatPath(["actions", "reply", 0, "color"]),
    "actions.reply[0].color",
  );
  assert.equal(formatPath([0, "x"]), "[0].x");
  assert.equal(formatPath([]), "");
});

Deno.test("loadConfig() knows the store backends sqlite and postgres, and postgres needs a url", async () => {
  const project = await writeProject({
    global: {
      store: { backend: "elasticsearch", url: "http://127.0.0.1:9200" },
    },
  });
  try {
    assertHas(
      await problems(load(project)),
      `${project.config}: store.backend: unknown store backend "elasticsearch" (known: sqlite, postgres); Elasticsearch is not a store backend`,
    );
    await Deno.writeTextFile(
      project.config,
      stringify({ store: { backend: "postgres" } }),
    );
    const missing = await problems(load(project));
    assert.ok(
      missing.some((line) =>
        line.startsWith(
          `${project.config}: store.url: backend postgres needs url`,
        )
      ),
      missing.join("\n"),
    );
    await Deno.writeTextFile(
      project.config,
      stringify({
        store: {
          backend: "postgres",
          url: "postgres://blitz:hunter2hunter2@db.example.test/blitz",
        },
      }),
    );
    const loaded = await load(project);
    assert.equal(loaded.global.store.backend, "postgres");
    assert.ok(
      loaded.warnings.some((w) => w.includes("store.url: literal secret")),
      loaded.warnings.join("\n"),
    );
  } finally {
    await project.cleanup();
  }
});

Deno.test("loadConfig() refuses a duration of 2^31 ms or more, which a timer would fire at once, naming the path (issue 16 item 10)", async () => {
  const project = await writeProject({
    global: { enrichment_timeout: "25d", delivery: { timeout: 2 ** 31 } },
    detectors: {
      det: {
        enrichments: [{ e_name: "R", e_func: "reverse_dns", timeout: "25d" }],
      },
    },
  });
  try {
    const global = await problems(load(project));
    assertHas(
      global,
      `${project.config}: enrichment_timeout: 25d is too long: use at most 24d (2^31 ms; longer timers fire at once)`,
    );
    assertHas(
      global,
      `${project.config}: delivery.timeout: 2147483648 is too long: use at most 24d (2^31 ms; longer timers fire at once)`,
    );
    // Ages are never timers: 90 days of retention and 30-day action links stay valid; 24d is the longest timer.
    await Deno.writeTextFile(
      project.config,
      stringify({
        action_keys: [{ id: "k1", secret: "${env:BLITZ_ACTION_KEY}" }],
        enrichment_timeout: "24d",
        action_link_ttl: "30d",
        retention: { alerts: "400d", emails: "90d" },
      }),
    );
    const detector = await problems(load(project));
    assert.deepEqual(detector, [
      `${project.dir}/detectors/det.yaml: det.enrichments[0].timeout: 25d is too long: use at most 24d (2^31 ms; longer timers fire at once)`,
    ]);
    await Deno.writeTextFile(
      `${project.dir}/detectors/det.yaml`,
      stringify({ det: { enrichments: [] } }),
    );
    const loaded = await load(project);
    assert.equal(loaded.global.enrichment_timeout, 24 * 86_400_000);
    assert.equal(loaded.global.retention.alerts, 400 * 86_400_000);
  } finally {
    await project.cleanup();
  }
});
