/**
 * The global cap on sandbox child processes (`plugin_processes_max`, issue 16 item 1): plugins together
 * never run more children than the cap, calls beyond it wait (bounded by their deadline) instead of
 * failing, and an idle child of one plugin is ended to make room for another's call.
 *
 * The plugins call a loopback "gate" that holds every request until the test opens it, so what runs
 * at once is observed, not timed.
 */
import assert from "node:assert/strict";
import { alive } from "../../../tests/_task.ts";
import type { EnrichmentPlugin } from "../../plugin.ts";
import type { PluginEntry } from "../registry.ts";
import { createSandboxInvoker, type SandboxInvoker } from "./sandbox.ts";
import { closeRuntime, createRuntime } from "../../service/runtime.ts";
import { silentLogger } from "../../log.ts";

// deno-lint-ignore no-explicit-any
type AnyPlugin = EnrichmentPlugin<any>;
type Call = (name: string, timeoutMs?: number) => Promise<unknown>;

const ctx = {
  alert: {},
  alertId: "a-1",
  detector: "d",
  args: [],
  settings: {},
};

/** Counts of what the gate saw: requests in flight at most, and the children alive at each arrival. */
interface Gate {
  maxInFlight: number;
  childrenAtArrival: number[];
  /** Resolves once `n` requests have arrived in all. */
  arrived(n: number): Promise<void>;
  /** Answers every held request and every later one at once. */
  open(): void;
  /** Holds requests again. */
  close(): void;
}

/** Plugins `names` (each a plugin_dirs module that fetches the gate) in a sandbox; cleaned up after `fn`. */
async function withGatedPlugins(
  names: string[],
  sandbox: SandboxInvoker,
  fn: (call: Call, gate: Gate) => Promise<void>,
) {
  let inFlight = 0;
  let total = 0;
  let release = Promise.withResolvers<void>();
  const waiters: { n: number; resolve(): void }[] = [];
  const gate: Gate = {
    maxInFlight: 0,
    childrenAtArrival: [],
    arrived: (n) =>
      total >= n ? Promise.resolve() : new Promise((resolve) => {
        waiters.push({ n, resolve });
      }),
    open: () => release.resolve(),
    close: () => (release = Promise.withResolvers<void>()),
  };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async () => {
      inFlight++;
      total++;
      gate.maxInFlight = Math.max(gate.maxInFlight, inFlight);
      gate.childrenAtArrival.push(Object.values(sandbox.pids()).flat().length);
      for (const w of waiters.filter((w) => total >= w.n)) w.resolve();
      await release.promise;
      inFlight--;
      return new Response("ok");
    },
  );
  const host = `127.0.0.1:${server.addr.port}`;
  const dir = await Deno.makeTempDir({ prefix: "blitz-cap-" });
  try {
    const entries = new Map<string, [PluginEntry<AnyPlugin>, AnyPlugin]>();
    for (const name of names) {
      await Deno.writeTextFile(
        `${dir}/${name}.ts`,
        `export default {
  name: "${name}",
  permissions: { net: ["${host}"] },
  async run() {
    await (await fetch("http://${host}/${name}")).text();
    return { name: "${name}", pid: Deno.pid };
  },
};
`,
      );
      const url = new URL(`file://${dir}/${name}.ts`).href;
      const plugin = (await import(url)).default as AnyPlugin;
      entries.set(name, [{
        name,
        aliases: [],
        url,
        builtin: false,
        load: () => Promise.resolve(plugin),
      }, plugin]);
    }
    await fn((name, timeoutMs = 60_000) => {
      const [entry, plugin] = entries.get(name)!;
      const pending = sandbox.invoke(entry, plugin, {}, ctx, { timeoutMs });
      pending.catch(() => {}); // a failed assertion closes the sandbox under calls never awaited
      return pending;
    }, gate);
  } finally {
    gate.open();
    await sandbox.close();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the sandbox runs at most maxProcesses children across plugins; calls beyond it wait and all complete", async () => {
  const sandbox = createSandboxInvoker({ processes: 4, maxProcesses: 2 });
  await withGatedPlugins(["a", "b", "c"], sandbox, async (call, gate) => {
    const calls = ["a", "b", "c"].flatMap((name) =>
      [1, 2, 3].map(() => call(name))
    );
    await gate.arrived(2);
    assert.ok(
      Object.values(sandbox.pids()).flat().length <= 2,
      JSON.stringify(sandbox.pids()),
    );
    gate.open();
    const results = await Promise.all(calls) as { name: string }[];
    assert.deepEqual(
      results.map((r) => r.name),
      ["a", "a", "a", "b", "b", "b", "c", "c", "c"],
    );
    assert.ok(gate.maxInFlight <= 2, `${gate.maxInFlight} calls ran at once`);
    assert.ok(
      gate.childrenAtArrival.every((n) => n <= 2),
      `children alive at each call: ${gate.childrenAtArrival.join(", ")}`,
    );
    assert.equal(gate.childrenAtArrival.length, 9);
  });
});

Deno.test("the sandbox ends another plugin's idle child to make room, and a call that waits past its deadline for the cap says so", async () => {
  const sandbox = createSandboxInvoker({ maxProcesses: 1 });
  await withGatedPlugins(["a", "b"], sandbox, async (call, gate) => {
    gate.open();
    const a = await call("a") as { pid: number };
    assert.deepEqual(sandbox.pids().a, [a.pid], "a's last child stays warm");
    // b needs the only slot: a's idle child is ended for it.
    const b = await call("b") as { name: string; pid: number };
    assert.equal(b.name, "b");
    assert.ok(!alive(a.pid), `a's child ${a.pid} was ended`);
    assert.deepEqual(Object.values(sandbox.pids()).flat(), [b.pid]);

    gate.close();
    const busy = call("b");
    await gate.arrived(3);
    await assert.rejects(call("a", 500), {
      name: "TimeoutError",
      message:
        "timed out after 500 ms waiting for a sandbox process: all 1 that plugin_processes_max allows are in use",
    });
    gate.open();
    assert.equal((await busy as { name: string }).name, "b");
    assert.equal((await call("a") as { name: string }).name, "a");
    assert.ok(gate.childrenAtArrival.every((n) => n <= 1));
  });
});

Deno.test("the sandbox gives no call to a child it is ending for another plugin: both calls complete", async () => {
  const sandbox = createSandboxInvoker({ maxProcesses: 1 });
  await withGatedPlugins(["a", "b"], sandbox, async (call, gate) => {
    gate.open();
    const warm = await call("a") as { pid: number };
    // b's call ends a's idle child to make room; a's next call, made before that child has exited,
    // must wait for a new one rather than go to the dying child.
    const b = call("b");
    const a = call("a");
    const [ra, rb] = await Promise.all([a, b]) as {
      name: string;
      pid: number;
    }[];
    assert.equal(rb!.name, "b");
    assert.equal(ra!.name, "a");
    assert.notEqual(ra!.pid, warm.pid, "a new child of a ran the call");
    assert.ok(gate.childrenAtArrival.every((n) => n <= 1));
  });
});

Deno.test("createRuntime() gives its sandbox the config's plugin_processes_max", async () => {
  const dir = await Deno.makeTempDir({ prefix: "blitz-cap-config-" });
  await Deno.mkdir(`${dir}/detectors`);
  await Deno.writeTextFile(
    `${dir}/blitz.yaml`,
    `to: ["soc@example.test"]\nplugin_processes_max: 1\n`,
  );
  const runtime = await createRuntime({
    configPath: `${dir}/blitz.yaml`,
    log: silentLogger,
    io: false,
  });
  try {
    assert.equal(runtime.config.global.plugin_processes_max, 1);
    await withGatedPlugins(["a", "b"], runtime.sandbox!, async (call, gate) => {
      const busy = call("a");
      await gate.arrived(1);
      await assert.rejects(call("b", 300), {
        message:
          "timed out after 300 ms waiting for a sandbox process: all 1 that plugin_processes_max allows are in use",
      });
      gate.open();
      await busy;
    });
  } finally {
    await closeRuntime(runtime);
    await Deno.remove(dir, { recursive: true });
  }
});
