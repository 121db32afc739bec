/**
 * A throwaway Blitz project for tests: `blitz.yaml`, a `detectors/` folder, an empty `data/` folder and
 * any extra files, in a fresh temp dir. The written config reads its signing key from `${env:}`, so pass
 * the returned `env` to `loadConfig({ env })` or to a child process.
 *
 * @example
 * ```ts
 * const project = await writeProject({
 *   detectors: { ssh: { subject: "SSH from {ip}", enrichments: [] } },
 * });
 * try {
 *   const config = await loadConfig({ path: project.config, env: (name) => project.env[name] });
 * } finally {
 *   await project.cleanup();
 * }
 * ```
 *
 * @module
 */
import { stringify } from "yaml";

/** A written project; call `cleanup()` in `finally`. */
export interface TestProject {
  /** The project folder (a new temp dir). */
  dir: string;
  /** Absolute path of `blitz.yaml`. */
  config: string;
  /** Absolute path of `data/` (the config's `data_dir`): the store and the outbox go here. */
  dataDir: string;
  /** Variables the written config references through `${env:}`: BLITZ_ACTION_KEY, JIRA_USER, JIRA_TOKEN. */
  env: Record<string, string>;
  /** Removes the project folder. */
  cleanup(): Promise<void>;
}

function randomHex(bytes: number): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

/** Global config keys every project starts with; `options.global` overrides them key by key. */
export function defaultGlobal(): Record<string, unknown> {
  return {
    from_email: "Blitz <blitz@example.test>",
    to: ["soc@example.test"],
    cc: [],
    public_url: "http://127.0.0.1:8080",
    detectors_dir: "detectors",
    data_dir: "data",
    action_keys: [{ id: "k1", secret: "${env:BLITZ_ACTION_KEY}" }],
  };
}

/**
 * Writes a project. `global` keys replace the defaults (a key given as `undefined` is left out),
 * `detectors` maps a detector name to its config (each written to `detectors/<name>.yaml`), and `files`
 * maps a path relative to the project folder to its text (parent folders are created).
 */
export async function writeProject(
  options: {
    global?: Record<string, unknown>;
    detectors?: Record<string, Record<string, unknown>>;
    files?: Record<string, string>;
  } = {},
): Promise<TestProject> {
  const dir = await Deno.makeTempDir({ prefix: "blitz_test_" });
  const cleanup = () => Deno.remove(dir, { recursive: true }).catch(() => {});
  try {
    const global = Object.fromEntries(
      Object.entries({ ...defaultGlobal(), ...options.global }).filter((
        [, v],
      ) => v !== undefined),
    );
    const config = `${dir}/blitz.yaml`;
    const dataDir = `${dir}/data`;
    await Deno.writeTextFile(config, stringify(global));
    await Deno.mkdir(`${dir}/detectors`);
    await Deno.mkdir(dataDir);
    for (const [name, detector] of Object.entries(options.detectors ?? {})) {
      await Deno.writeTextFile(
        `${dir}/detectors/${name}.yaml`,
        stringify({ [name]: detector }),
      );
    }
    for (const [path, text] of Object.entries(options.files ?? {})) {
      if (path.startsWith("/") || path.split("/").includes("..")) {
        throw new RangeError(
          `writeProject(): file path must stay inside the project: ${path}`,
        );
      }
      const file = `${dir}/${path}`;
      await Deno.mkdir(file.slice(0, file.lastIndexOf("/")), {
        recursive: true,
      });
      await Deno.writeTextFile(file, text);
    }
    const env = {
      BLITZ_ACTION_KEY: `test-action-key-${randomHex(16)}`,
      JIRA_USER: `jira-user-${randomHex(4)}`,
      JIRA_TOKEN: `jira-token-${randomHex(16)}`,
    };
    return { dir, config, dataDir, env, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
