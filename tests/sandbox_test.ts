/**
 * SECURITY.md 12 and 13 through the real pipeline: custom plugins from `plugin_dirs` run in the sandbox;
 * the ones that overstep their permissions, and one that loops forever, become errors and a timeout in
 * the email, which is still delivered (file outbox).
 *
 * The pipeline runs in a child process with the ingest task's explicit permission flags: on Deno 2.9
 * a worker stuck in `for (;;)` keeps spinning after `terminate()` until its process exits, so the
 * child ends with `Deno.exit()` and this test process keeps no spinning thread.
 */
import assert from "node:assert/strict";
import { simpleParser } from "mailparser";
import { writeProject } from "./_config.ts";

const ROOT = new URL("..", import.meta.url);
const EVIL = new URL("./fixtures/evil_plugins", import.meta.url).pathname;

/** Builds the runtime with the sandbox as its invoker, ingests one alert, prints the outcome, exits. */
function driver(): string {
  const at = (path: string) => JSON.stringify(new URL(path, ROOT).href);
  return `import { ingestAlert } from ${at("core/pipeline/pipeline.ts")};
import { closeRuntime, createRuntime } from ${at("core/service/runtime.ts")};
import { createSandboxInvoker } from ${at("core/plugins/sandbox/sandbox.ts")};

const [configPath, alert] = Deno.args;
const runtime = await createRuntime({ configPath, log: () => {} });
const sandbox = createSandboxInvoker();
runtime.invoker = sandbox;
const summary = await ingestAlert(runtime, "evil", JSON.parse(alert));
const record = await runtime.store.getAlert(summary.alert_id);
console.log(JSON.stringify({ summary, enrichments: record?.enrichments, stats: sandbox.stats() }));
await sandbox.close();
await closeRuntime(runtime);
Deno.exit(0); // a stuck worker would otherwise keep the process alive
`;
}

Deno.test("ingestAlert() with the sandbox delivers the email with each evil plugin's error and the loop's timeout", async () => {
  const requests: string[] = [];
  const http = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
  }, (req) => {
    requests.push(new URL(req.url).pathname);
    return Response.json({ owner: "team-a" });
  });
  const port = http.addr.port;
  const project = await writeProject({
    global: {
      action_keys: [{
        id: "k1",
        secret: "sandbox-test-signing-key-0123456789",
      }],
      plugin_dirs: [EVIL, "plugins_ok"],
    },
    files: {
      "driver.ts": driver(),
      "plugins_ok/owner_lookup.ts": `export default {
  name: "owner_lookup",
  positional: ["ip"],
  permissions: { net: ["127.0.0.1:${port}"] },
  async run({ ip }, ctx) {
    return await (await fetch("http://127.0.0.1:${port}/owner/" + ip, { signal: ctx.signal })).json();
  },
};
`,
    },
    detectors: {
      evil: {
        subject: "Sandbox alert {ip}",
        enrichments: [
          { e_name: "Owner", e_func: "owner_lookup", e_key: "ip" },
          { e_name: "Reads env", e_func: "evil_read_env" },
          { e_name: "Reads file", e_func: "evil_read_file" },
          {
            e_name: "Fetches undeclared",
            e_func: "evil_fetch",
            e_key: "callback",
          },
          { e_name: "Spawns", e_func: "evil_spawn" },
          { e_name: "Imports outside", e_func: "evil_import" },
          // 5 s, not 1: the deadline counts from the call, and a loaded host can take over a second to
          // start the plugin's first child process; the test is about the kill, not the start.
          { e_name: "Loops", e_func: "evil_loop", timeout: "5s" },
        ],
      },
    },
  });
  const kill = new AbortController();
  const guard = setTimeout(() => kill.abort(), 60_000);
  try {
    const alert = {
      ip: "192.0.2.7",
      callback: `http://127.0.0.1:${port}/stolen`,
    };
    const flags = [
      "--no-prompt",
      "--unstable-worker-options",
      `--config=${new URL("deno.json", ROOT).pathname}`,
      "--allow-read",
      `--allow-write=${project.dataDir}`,
      "--allow-env",
      "--allow-net",
      "--allow-sys=hostname,osRelease",
      `--allow-run=${Deno.execPath()}`,
    ];
    const child = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...flags,
        `${project.dir}/driver.ts`,
        project.config,
        JSON.stringify(alert),
      ],
      stdout: "piped",
      stderr: "piped",
      signal: kill.signal,
    }).output();
    const stderr = new TextDecoder().decode(child.stderr);
    assert.equal(child.code, 0, stderr);
    const out = JSON.parse(new TextDecoder().decode(child.stdout));

    assert.equal(out.summary.sent, true);
    assert.equal(out.summary.delivery.status, "outbox");
    assert.deepEqual(
      requests,
      ["/owner/192.0.2.7"],
      "only the declared plugin reached the server",
    );
    const byName: Record<
      string,
      { status: string; error?: string; data?: unknown }
    > = Object.fromEntries(
      out.enrichments.map((e: { name: string }) => [e.name, e]),
    );
    assert.deepEqual(byName["Owner"]?.data, { owner: "team-a" });
    const expected: Record<string, string> = {
      "Reads env": 'permission denied: env access to "HOME"',
      "Reads file": 'permission denied: read access to "/etc/passwd"',
      "Fetches undeclared":
        `permission denied: net access to "127.0.0.1:${port}"`,
      "Spawns": 'permission denied: run access to "id"',
      "Imports outside": 'permission denied: read access to "/etc/passwd"',
    };
    for (const [name, error] of Object.entries(expected)) {
      assert.deepEqual([byName[name]?.status, byName[name]?.error], [
        "error",
        error,
      ], name);
    }
    assert.deepEqual([byName["Loops"]?.status, byName["Loops"]?.error], [
      "timeout",
      "plugin timed out after 5 s and was killed",
    ]);
    assert.equal(out.stats.evil_loop.timeouts, 1);

    const mail = await simpleParser(
      await Deno.readTextFile(out.summary.delivery.path),
    );
    const text = mail.text ?? "";
    for (const [name, error] of Object.entries(expected)) {
      assert.ok(
        text.includes(`${name} — failed: ${error}`),
        `${name} in:\n${text}`,
      );
    }
    assert.match(text, /Loops — plugin timed out after 5 s and was killed/);
    assert.match(text, /team-a/);
  } finally {
    clearTimeout(guard);
    await http.shutdown();
    await project.cleanup();
  }
});
