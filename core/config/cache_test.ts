import assert from "node:assert/strict";
import { loadConfig } from "./config.ts";
import { ConfigError } from "../errors.ts";
import { loadRegistry } from "../plugins/registry.ts";
import { type TestProject, writeProject } from "../../tests/_config.ts";

function load(
  project: TestProject,
  options: { env?: Record<string, string>; cache?: boolean } = {},
) {
  const env: Record<string, string> = { ...project.env, ...options.env };
  return loadConfig({
    path: project.config,
    env: (name) => env[name],
    only: "ssh",
    cache: options.cache ?? true,
    registry: (g) => loadRegistry(g.plugin_dirs),
  });
}

async function cacheFiles(project: TestProject): Promise<string[]> {
  const files: string[] = [];
  try {
    for await (const entry of Deno.readDir(`${project.dataDir}/cache`)) {
      files.push(`${project.dataDir}/cache/${entry.name}`);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return files;
}

/** The one cache file, its stored detector's subject replaced (so that a hit is visible). */
async function markCache(project: TestProject, subject: string) {
  const [file] = await cacheFiles(project);
  assert.ok(file, "a cache file was written");
  const cached = JSON.parse(await Deno.readTextFile(file));
  cached.detectors[0].config.subject = subject;
  await Deno.writeTextFile(file, JSON.stringify(cached));
}

const SSH = {
  subject: "SSH {ip}",
  mailers: { to: ["${env:SSH_TO}"] },
  actions: { send: [["pass_to_mail", { return_name: "ip", data: "{ip}" }]] },
};
const ENV = { SSH_TO: "ssh-team@example.test" };

Deno.test("loadConfig({ cache }) serves an unchanged config from data_dir and never an edited one", async () => {
  const project = await writeProject({ detectors: { ssh: SSH } });
  try {
    const first = await load(project, { env: ENV });
    assert.equal(first.detectors.get("ssh")!.config.subject, "SSH {ip}");
    assert.equal((await cacheFiles(project)).length, 1);
    await markCache(project, "served from the cache");
    const second = await load(project, { env: ENV });
    assert.equal(
      second.detectors.get("ssh")!.config.subject,
      "served from the cache",
    );
    assert.deepEqual(second.detectors.get("ssh")!.config.mailers.to, [
      ENV.SSH_TO,
    ]);
    assert.deepEqual(second.global.action_keys, first.global.action_keys);
    // The same size and a restored modification time: the content decides.
    const file = `${project.dir}/detectors/ssh.yaml`;
    const { mtime } = await Deno.stat(file);
    const text = await Deno.readTextFile(file);
    await Deno.writeTextFile(file, text.replace("SSH {ip}", "SSX {ip}"));
    await Deno.utime(file, mtime!, mtime!);
    const edited = await load(project, { env: ENV });
    assert.equal(edited.detectors.get("ssh")!.config.subject, "SSX {ip}");
    // The global file too.
    await markCache(project, "served from the cache");
    const global = await Deno.readTextFile(project.config);
    await Deno.writeTextFile(project.config, `${global}max_json_depth: 40\n`);
    const reloaded = await load(project, { env: ENV });
    assert.equal(reloaded.global.max_json_depth, 40);
    assert.equal(reloaded.detectors.get("ssh")!.config.subject, "SSX {ip}");
  } finally {
    await project.cleanup();
  }
});

Deno.test("loadConfig({ cache }) keeps no substituted value in the cache and follows a changed one", async () => {
  const project = await writeProject({ detectors: { ssh: SSH } });
  try {
    await load(project, { env: ENV });
    const [file] = await cacheFiles(project);
    const text = await Deno.readTextFile(file!);
    assert.ok(!text.includes(project.env.BLITZ_ACTION_KEY!));
    assert.ok(!text.includes(ENV.SSH_TO));
    assert.ok(text.includes("${env:BLITZ_ACTION_KEY}"));
    assert.equal((await Deno.stat(file!)).mode! & 0o777, 0o600);
    const changed = await load(project, {
      env: { SSH_TO: "other@example.test" },
    });
    assert.deepEqual(changed.detectors.get("ssh")!.config.mailers.to, [
      "other@example.test",
    ]);
    // A value the schema refuses is refused, cache or not.
    await assert.rejects(
      load(project, { env: { SSH_TO: "not an address" } }),
      (err) =>
        err instanceof ConfigError &&
        err.problems.some((p) => p.includes("ssh.mailers.to[0]")),
    );
  } finally {
    await project.cleanup();
  }
});

Deno.test("loadConfig({ cache }) sees a detector file added to detectors_dir", async () => {
  const project = await writeProject({ detectors: { ssh: SSH } });
  try {
    await load(project, { env: ENV });
    await Deno.writeTextFile(
      `${project.dir}/detectors/zz_more.yaml`,
      "ssh:\n  subject: again\n",
    );
    await assert.rejects(
      load(project, { env: ENV }),
      (err) =>
        err instanceof ConfigError &&
        err.problems.some((p) => p.includes("detector already defined")),
    );
  } finally {
    await project.cleanup();
  }
});

Deno.test("loadConfig({ cache }) ignores a corrupt cache and replaces it", async () => {
  const project = await writeProject({ detectors: { ssh: SSH } });
  try {
    await load(project, { env: ENV });
    const [file] = await cacheFiles(project);
    for (const junk of ["{not json", "[]", '{"format":1,"files":[]}', ""]) {
      await Deno.writeTextFile(file!, junk);
      const config = await load(project, { env: ENV });
      assert.equal(config.detectors.get("ssh")!.config.subject, "SSH {ip}");
      JSON.parse(await Deno.readTextFile(file!)); // written whole again
    }
  } finally {
    await project.cleanup();
  }
});

Deno.test("loadConfig({ cache }) loads without a usable data_dir and writes nothing", async () => {
  const project = await writeProject({ detectors: { ssh: SSH } });
  try {
    await Deno.remove(project.dataDir, { recursive: true });
    await load(project, { env: ENV });
    await assert.rejects(Deno.stat(project.dataDir), Deno.errors.NotFound);
    // data_dir a file: nothing can be written under it
    await Deno.writeTextFile(project.dataDir, "");
    const config = await load(project, { env: ENV });
    assert.equal(config.detectors.get("ssh")!.config.subject, "SSH {ip}");
    // Without `cache` nothing is read or written
    await Deno.remove(project.dataDir);
    await Deno.mkdir(project.dataDir);
    await load(project, { env: ENV, cache: false });
    assert.deepEqual(await cacheFiles(project), []);
  } finally {
    await project.cleanup();
  }
});
