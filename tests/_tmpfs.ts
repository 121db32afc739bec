/**
 * A small tmpfs for disk-full tests, mounted on an empty folder: `mount -t tmpfs -o size=…` (this
 * machine and CI run as root), else a user and mount namespace of the service's own (`unshare -rm`:
 * start the service through `wrap`, see its files at `view(pid)`, run a command beside it through
 * `enter(pid)`). With neither, `why` says so and the test skips with that line, unless
 * `BLITZ_REQUIRE_TMPFS=1` (set by `.ci/run`), which makes it a failure. Always `unmount()` in a
 * `finally`.
 *
 * @example
 * ```ts
 * const fs = await mountTmpfs({ sizeKiB: 4096, at: project.dataDir });
 * if (!fs.ok) { if (requireTmpfs()) throw new Error(fs.why); console.log(`skipped: ${fs.why}`); return; }
 * try { … startServe({ …, wrap: fs.wrap }) … fill(fs.view(server.child.pid)) … } finally { await fs.unmount(); }
 * ```
 *
 * @module
 */

/** A mounted tmpfs, or why there is none. */
export type Tmpfs =
  | {
    ok: true;
    /** Where the tmpfs is mounted: the path the service is configured with. */
    path: string;
    /**
     * `mount`: mounted here, every process sees it. `unshare`: mounting is not allowed here, so only
     * a process started through `wrap` (in a user and mount namespace of its own) sees it.
     */
    mode: "mount" | "unshare";
    /** The prefix that starts the service so that it sees the tmpfs (startServe's `wrap`). */
    wrap: string[];
    /** Where this process sees the tmpfs's files, `pid` being the wrapped process. */
    view(pid: number): string;
    /** The prefix that runs another command in folder `wd` where the wrapped process `pid` sees the tmpfs. */
    enter(pid: number, wd: string): string[];
    unmount(): Promise<void>;
  }
  | { ok: false; why: string };

/** True when a missing tmpfs must fail the test (`BLITZ_REQUIRE_TMPFS=1`, as in `.ci/run`). */
export function requireTmpfs(): boolean {
  return Deno.env.get("BLITZ_REQUIRE_TMPFS") === "1";
}

async function run(
  command: string,
  args: string[],
): Promise<{ ok: boolean; text: string }> {
  try {
    const out = await new Deno.Command(command, {
      args,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b).trim();
    return {
      ok: out.success,
      text: [decode(out.stdout), decode(out.stderr)].filter(Boolean).join(" "),
    };
  } catch (err) {
    return { ok: false, text: (err as Error).message };
  }
}

/** `sh -c` that mounts the tmpfs on its first argument, then runs the rest in its place. */
function mountThenExec(sizeKiB: number, path: string): string[] {
  return [
    "sh",
    "-c",
    `mount -t tmpfs -o size=${sizeKiB}k tmpfs "$0" && exec "$@"`,
    path,
  ];
}

/**
 * Mounts a tmpfs of `sizeKiB` on `at` (an empty folder). Where `mount` is refused (not root), a user
 * and mount namespace (`unshare -rm`) mounts it for the wrapped process only. `BLITZ_TMPFS_MODE=unshare`
 * takes that way even as root (to try it).
 */
export async function mountTmpfs(
  options: { sizeKiB: number; at: string },
): Promise<Tmpfs> {
  const path = options.at;
  let refused = "not tried";
  if (Deno.env.get("BLITZ_TMPFS_MODE") !== "unshare") {
    const mounted = await run("mount", [
      "-t",
      "tmpfs",
      "-o",
      `size=${options.sizeKiB}k,mode=0755`,
      "tmpfs",
      path,
    ]);
    if (mounted.ok) {
      let done: Promise<void> | undefined;
      return {
        ok: true,
        path,
        mode: "mount",
        wrap: [],
        view: () => path,
        enter: () => [],
        unmount() {
          done ??= (async () => {
            // A process still holding a file open makes a plain umount fail: detach it then (lazy).
            const plain = await run("umount", [path]);
            if (!plain.ok) await run("umount", ["-l", path]);
          })();
          return done;
        },
      };
    }
    refused = mounted.text;
  }
  const probe = await run("unshare", [
    "-rm",
    ...mountThenExec(64, path),
    "true",
  ]);
  if (!probe.ok) {
    return {
      ok: false,
      why:
        `cannot mount a tmpfs (mount -t tmpfs: ${refused}; unshare -rm: ${probe.text}); run as root, or set BLITZ_REQUIRE_TMPFS=1 to make this a failure`,
    };
  }
  return {
    ok: true,
    path,
    mode: "unshare",
    wrap: ["unshare", "-rm", ...mountThenExec(options.sizeKiB, path)],
    view: (pid) => `/proc/${pid}/root${path}`,
    // Entering a mount namespace moves to its root: --wd keeps the command's folder.
    enter: (pid, wd) => [
      "nsenter",
      "-t",
      String(pid),
      "-U",
      "-m",
      "--preserve-credentials",
      `--wd=${wd}`,
      "--",
    ],
    // The mount lives and dies with the wrapped process's namespace.
    unmount: () => Promise.resolve(),
  };
}

/**
 * Fills the file system holding `dir` with `<dir>/filler` until the write fails (ENOSPC); returns its
 * path. The file stays until the test deletes it.
 */
export async function fill(dir: string): Promise<string> {
  const path = `${dir}/filler`;
  const file = await Deno.open(path, { write: true, create: true });
  const block = new Uint8Array(64 * 1024).fill(0x5a);
  try {
    for (;;) {
      try {
        await file.write(block);
      } catch (err) {
        if (/No space left|ENOSPC|os error 28/i.test(String(err))) break;
        throw err;
      }
    }
    // Then the last bytes: a smaller write may still fit.
    const byte = new Uint8Array(512);
    for (;;) {
      try {
        const n = await file.write(byte);
        if (n === 0) break;
      } catch {
        break;
      }
    }
  } finally {
    file.close();
  }
  return path;
}
