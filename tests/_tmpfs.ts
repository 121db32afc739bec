/**
 * A small tmpfs for disk-full tests: `mount -t tmpfs -o size=…` on a fresh folder (this machine and CI
 * run as root). Where mounting is not allowed, `available()` says why and the test skips with that
 * line, unless `BLITZ_REQUIRE_TMPFS=1` (set by `.ci/run`), which makes it a failure. Always
 * `unmount()` in a `finally`.
 *
 * @example
 * ```ts
 * const fs = await mountTmpfs({ sizeKiB: 8192 });
 * if (!fs.ok) { if (requireTmpfs()) throw new Error(fs.why); console.log(`skipped: ${fs.why}`); return; }
 * try { … fs.path … } finally { await fs.unmount(); }
 * ```
 *
 * @module
 */

/** A mounted tmpfs, or why there is none. */
export type Tmpfs =
  | { ok: true; path: string; unmount(): Promise<void> }
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

/** Mounts a tmpfs of `sizeKiB` on a new temp folder (or on `at`, an empty folder). */
export async function mountTmpfs(
  options: { sizeKiB: number; at?: string },
): Promise<Tmpfs> {
  const path = options.at ?? await Deno.makeTempDir({ prefix: "blitz_tmpfs_" });
  const mounted = await run("mount", [
    "-t",
    "tmpfs",
    "-o",
    `size=${options.sizeKiB}k,mode=0755`,
    "tmpfs",
    path,
  ]);
  if (!mounted.ok) {
    if (!options.at) await Deno.remove(path).catch(() => {});
    return {
      ok: false,
      why:
        `cannot mount a tmpfs (mount -t tmpfs: ${mounted.text}); run as root, or set BLITZ_REQUIRE_TMPFS=1 to make this a failure`,
    };
  }
  let done: Promise<void> | undefined;
  return {
    ok: true,
    path,
    unmount() {
      done ??= (async () => {
        // A process still holding a file open makes a plain umount fail: detach it then (lazy).
        const plain = await run("umount", [path]);
        if (!plain.ok) await run("umount", ["-l", path]);
        if (!options.at) {
          await Deno.remove(path, { recursive: true }).catch(() => {});
        }
      })();
      return done;
    },
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
