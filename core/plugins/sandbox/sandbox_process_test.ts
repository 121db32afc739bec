/**
 * The child-process sandbox of plugin_dirs plugins (issue 16 item 1): a spinning call is SIGKILLed at
 * its deadline and its process is gone; an allocating one dies alone at the heap cap with a clear error;
 * a crash fails only its call; the pool replaces what died, runs one call per process, and `close()`
 * leaves no child behind. The child's flags are exactly the plugin's.
 */
import assert from "node:assert/strict";
import { alive } from "../../../tests/_task.ts";
import { TimeoutError } from "../call.ts";
import type { EnrichmentPlugin } from "../../plugin.ts";
import type { PluginEntry } from "../registry.ts";
import {
  childArgs,
  createSandboxInvoker,
  loadSandboxed,
  workerPermissions,
} from "./sandbox.ts";

// deno-lint-ignore no-explicit-any
type AnyPlugin = EnrichmentPlugin<any>;

const ctx = {
  alert: { ip: "192.0.2.1" },
  alertId: "a-1",
  detector: "d",
  args: [],
  settings: {},
};

const PLUGIN = `export default {
  name: "rogue",
  async run(params) {
    switch (params.mode) {
      case "echo": return { echo: params.n ?? null, pid: Deno.pid };
      case "spin": for (;;) {}
      case "alloc": { const kept = []; for (;;) kept.push({ s: "x" + Math.random() }); }
      case "exit": Deno.exit(3);
      case "wait": await new Promise((r) => setTimeout(r, params.ms)); return { waited: true };
    }
  },
};
`;

/** A temp plugin_dirs plugin file with the modes above; removed after `fn`. */
async function withRogue(
  fn: (
    call: (
      params: Record<string, unknown>,
      timeoutMs?: number,
    ) => Promise<unknown>,
    url: string,
  ) => Promise<void>,
  sandbox: ReturnType<typeof createSandboxInvoker>,
) {
  const dir = await Deno.makeTempDir({ prefix: "blitz-rogue-" });
  try {
    await Deno.writeTextFile(`${dir}/rogue.ts`, PLUGIN);
    const url = new URL(`file://${dir}/rogue.ts`).href;
    const plugin = (await import(url)).default as AnyPlugin;
    const entry: PluginEntry<AnyPlugin> = {
      name: "rogue",
      aliases: [],
      url,
      builtin: false,
      load: () => Promise.resolve(plugin),
    };
    await fn(
      (params, timeoutMs = 30_000) =>
        sandbox.invoke(entry, plugin, params, ctx, { timeoutMs }),
      url,
    );
  } finally {
    await sandbox.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Polls `check` between event-loop turns; fails (instead of hanging) if it stays false for 20 s. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2_000 && !check(); i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(check(), `never happened: ${what}`);
}

Deno.test("the sandbox SIGKILLs a spinning plugin at its deadline, its process is gone, and a replacement serves the next call", async () => {
  const sandbox = createSandboxInvoker();
  await withRogue(async (call) => {
    const first = await call({ mode: "echo", n: 1 }) as { pid: number };
    assert.deepEqual(sandbox.pids().rogue, [first.pid]);
    await assert.rejects(call({ mode: "spin" }, 300), (err: Error) => {
      assert.ok(err instanceof TimeoutError);
      assert.equal(err.message, "plugin timed out after 300 ms and was killed");
      return true;
    });
    // The spinning process (and the core it held) is gone, not merely abandoned.
    await until(() => !alive(first.pid), `pid ${first.pid} is gone`);
    const next = await call({ mode: "echo", n: 2 }) as {
      echo: number;
      pid: number;
    };
    assert.equal(next.echo, 2);
    assert.notEqual(next.pid, first.pid);
    const stats = sandbox.stats().rogue!;
    assert.equal(stats.timeouts, 1);
    assert.equal(stats.stuck, 0, "a killed process is never stuck");
    assert.equal(stats.disabled, 0);
  }, sandbox);
});

Deno.test("the sandbox caps a plugin's heap: an allocating call dies alone with a clear error, the next call runs", async () => {
  const sandbox = createSandboxInvoker({ memoryMb: 48 });
  await withRogue(async (call) => {
    const first = await call({ mode: "echo" }) as { pid: number };
    await assert.rejects(call({ mode: "alloc" }), {
      message: "plugin crashed: out of memory (cap 48 MB)",
    });
    assert.ok(!alive(first.pid) || sandbox.pids().rogue?.[0] !== first.pid);
    await until(() => !alive(first.pid), `pid ${first.pid} is gone`);
    assert.deepEqual(await call({ mode: "echo", n: 3 }), {
      echo: 3,
      pid: sandbox.pids().rogue![0],
    });
  }, sandbox);
});

Deno.test("the sandbox reports a plugin that exits its process as a crash of that call only", async () => {
  const sandbox = createSandboxInvoker();
  await withRogue(async (call) => {
    await assert.rejects(call({ mode: "exit" }), {
      message: "plugin crashed: its sandbox process exited with code 3",
    });
    assert.equal(
      (await call({ mode: "echo", n: 4 }) as { echo: number }).echo,
      4,
    );
    assert.equal(sandbox.stats().rogue?.errors, 1);
  }, sandbox);
});

Deno.test("the sandbox runs one call at a time per process: with one process a second call waits, and one that waits past its deadline says so", async () => {
  const sandbox = createSandboxInvoker({ processes: 1 });
  await withRogue(async (call) => {
    await call({ mode: "echo" });
    const slow = call({ mode: "wait", ms: 1_500 });
    await assert.rejects(call({ mode: "echo" }, 200), {
      name: "TimeoutError",
      message:
        "timed out after 200 ms waiting for a free sandbox process (all 1 busy)",
    });
    assert.deepEqual(await slow, { waited: true });
    assert.equal(sandbox.pids().rogue?.length, 1, "nothing was killed");
    assert.equal(sandbox.stats().rogue?.spawned, 1);
  }, sandbox);
});

Deno.test("a call whose deadline passes while its plugin's first process is still starting says so, not busy", async () => {
  const sandbox = createSandboxInvoker({ processes: 1 });
  await withRogue(async (call) => {
    // No Deno process starts in 1 ms: the call waits for the start, not for a busy process.
    await assert.rejects(call({ mode: "echo" }, 1), {
      name: "TimeoutError",
      message: "timed out after 1 ms waiting for its sandbox process to start",
    });
    assert.equal(
      (await call({ mode: "echo", n: 2 }) as { echo: number }).echo,
      2,
    );
  }, sandbox);
});

Deno.test("the sandbox keeps at most `processes` children per plugin and close() leaves none alive", async () => {
  const sandbox = createSandboxInvoker({ processes: 2 });
  let pids: number[] = [];
  await withRogue(async (call) => {
    await Promise.all(
      Array.from({ length: 6 }, () => call({ mode: "wait", ms: 100 })),
    );
    pids = sandbox.pids().rogue ?? [];
    assert.ok(pids.length >= 1 && pids.length <= 2, String(pids));
    assert.ok(sandbox.stats().rogue!.spawned <= 2);
    const pending = call({ mode: "spin" });
    const failed = assert.rejects(pending, {
      message: "The sandbox is closed",
    });
    await until(
      () => sandbox.stats().rogue!.calls === 7,
      "the spinning call started",
    );
    await sandbox.close();
    await failed;
    assert.deepEqual(sandbox.pids().rogue, []);
  }, sandbox);
  for (const pid of pids) assert.ok(!alive(pid), `pid ${pid} is gone`);
});

Deno.test("loadSandboxed() survives a plugin whose top-level code allocates without end or spins", async () => {
  const dir = await Deno.makeTempDir({ prefix: "blitz-rogue-load-" });
  try {
    await Deno.writeTextFile(
      `${dir}/hog.ts`,
      `const kept = []; for (;;) kept.push({ s: "x" + Math.random() });\nexport default { name: "hog", run: () => 1 };\n`,
    );
    await Deno.writeTextFile(
      `${dir}/spin.ts`,
      `for (;;) {}\nexport default { name: "spin", run: () => 1 };\n`,
    );
    await assert.rejects(
      // A bound, not the subject: under load V8 takes seconds to give up at the heap cap.
      loadSandboxed(new URL(`file://${dir}/hog.ts`).href, {
        memoryMb: 48,
        timeoutMs: 60_000,
      }),
      { message: "plugin crashed: out of memory (cap 48 MB)" },
    );
    await assert.rejects(
      loadSandboxed(new URL(`file://${dir}/spin.ts`).href, {
        timeoutMs: 1_000,
      }),
      { name: "TimeoutError" },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("childArgs() gives the child exactly the plugin's permissions, the heap cap, and never write, run, ffi or remote imports", () => {
  const url = "file:///srv/plugins/intel.ts";
  const args = childArgs(
    workerPermissions(
      { net: ["api.example.com:443"], env: ["INTEL_TOKEN"], sys: ["hostname"] },
      url,
    ),
    96,
  );
  const perms = args.filter((a) => /^--(allow|deny)-/.test(a));
  assert.deepEqual(perms, [
    `--allow-read=/srv/plugins/,${new URL("../../", import.meta.url).pathname}`,
    "--allow-net=api.example.com:443",
    "--allow-env=INTEL_TOKEN",
    "--allow-sys=hostname",
  ]);
  for (const flag of ["--no-prompt", "--no-remote", "--cached-only"]) {
    assert.ok(args.includes(flag), flag);
  }
  assert.ok(args.includes("--v8-flags=--max-old-space-size=96"));
  assert.ok(!args.some((a) => a === "-A" || a.startsWith("--allow-all")));
  assert.match(args.at(-1)!, /\/core\/plugins\/sandbox\/sandbox_child\.ts$/);
  // Nothing declared: read its own modules, nothing else.
  assert.deepEqual(
    childArgs(workerPermissions(undefined, url), 128).filter((a) =>
      a.startsWith("--allow-")
    ),
    [`--allow-read=/srv/plugins/,${
      new URL("../../", import.meta.url).pathname
    }`],
  );
  for (const never of ["write", "run", "ffi", "import"] as const) {
    assert.throws(
      () =>
        childArgs({ ...workerPermissions(undefined, url), [never]: true }, 128),
      { message: `a sandboxed plugin never gets ${never} permission` },
    );
  }
});
