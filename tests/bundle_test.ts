/**
 * The single-file artifact: `deno task bundle` writes dist/blitz.js, which `deno run` executes with the
 * same explicit permission flags as the `ingest` task.
 */
import assert from "node:assert/strict";

const root = new URL("..", import.meta.url).pathname;

function taskFlags(task: string): string[] {
  const tasks = JSON.parse(Deno.readTextFileSync(`${root}/deno.json`))
    .tasks as Record<string, string>;
  const line = tasks[task];
  assert.ok(line, `deno.json has a ${task} task`);
  assert.doesNotMatch(
    line,
    /(^|\s)(-A|--allow-all|--allow-run(?!=deno\s)|--allow-ffi)\b/,
    `${task} grants no blanket permissions (it may run only the deno binary)`,
  );
  const match = /^deno run (.*) main\.ts \w+$/.exec(line);
  assert.ok(
    match,
    `${task} task has the shape "deno run <flags> main.ts <command>"`,
  );
  return match[1]!.split(/\s+/);
}

Deno.test("bundle task writes dist/blitz.js that ingests with the ingest task's flags", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(`${root}/deno.json`))
    .tasks as Record<string, string>;
  const out = await Deno.makeTempDir({ prefix: "blitz-bundle-" });
  try {
    assert.ok(tasks.bundle, "deno.json has a bundle task");
    const bundled = await new Deno.Command(Deno.execPath(), {
      args: ["task", "bundle"],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(bundled.success, new TextDecoder().decode(bundled.stderr));
    // The artifact is dist/blitz.js plus the sandbox entries it starts for plugins from plugin_dirs.
    await Deno.copyFile(`${root}/dist/blitz.js`, `${out}/blitz.js`);
    for (const file of ["sandbox_worker.ts", "sandbox_child.ts"]) {
      await Deno.copyFile(`${root}/dist/${file}`, `${out}/${file}`);
    }

    await Deno.mkdir(`${out}/detectors`);
    await Deno.writeTextFile(
      `${out}/blitz.yaml`,
      'to: ["soc@example.org"]\npublic_url: "https://blitz.example.org"\naction_keys: [{id: k1, secret: "${env:BUNDLE_KEY}"}]\nplugin_dirs: [plugins]\n',
    );
    await Deno.writeTextFile(
      `${out}/detectors/bundled.yaml`,
      'bundled:\n  subject: "Bundle {ip}"\n  enrichments: [{e_name: Shout, e_func: shout, e_key: ip}]\n  actions:\n    send: [[pass_to_mail, {return_name: ip, data: "{ip}"}]]\n    reply: [["Block", {color: red, actions: [[pass_to_mail, {data: x}]]}]]\n',
    );
    // A plugin from plugin_dirs still runs in the sandbox process shipped next to the bundle.
    await Deno.mkdir(`${out}/plugins`);
    await Deno.writeTextFile(
      `${out}/plugins/shout.ts`,
      'export default { name: "shout", positional: ["ip"], run: ({ ip }) => ({ loud: `${ip}!` }) };\n',
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...taskFlags("ingest"),
        `${out}/blitz.js`,
        "ingest",
        "bundled",
      ],
      cwd: out,
      env: { BUNDLE_KEY: "bundle-test-key-0123456789abcdef" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode('{"ip": "192.0.2.7"}'));
    await writer.close();
    const result = await child.output();
    const stderr = new TextDecoder().decode(result.stderr);
    assert.equal(result.code, 0, stderr);
    const lines = new TextDecoder().decode(result.stdout).trim().split("\n");
    assert.equal(lines.length, 1);
    const summary = JSON.parse(lines[0]!);
    assert.equal(summary.subject, "Bundle 192.0.2.7");
    assert.equal(summary.sent, true);
    assert.equal(summary.delivery.status, "outbox");
    assert.deepEqual(
      summary.enrichments.map((
        e: { name: string; status: string },
      ) => [e.name, e.status]),
      [[
        "Shout",
        "ok",
      ]],
    );
    const eml = await Deno.readTextFile(summary.delivery.path);
    assert.match(eml, /^Subject: Bundle 192\.0\.2\.7\r$/m);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
