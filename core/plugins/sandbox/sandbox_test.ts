import assert from "node:assert/strict";
import { TimeoutError } from "../call.ts";
import type { EnrichmentPlugin } from "../../plugin.ts";
import { loadRegistry, type PluginEntry } from "../registry.ts";
import {
  createSandboxInvoker,
  loadSandboxed,
  type SandboxEvent,
  workerPermissions,
} from "./sandbox.ts";
import { registerSecret } from "../../secrets.ts";

// deno-lint-ignore no-explicit-any
type AnyPlugin = EnrichmentPlugin<any>;

const EVIL = new URL("../../../tests/fixtures/evil_plugins/", import.meta.url);
// A variable every test process has, so that no test sets one (tests never mutate Deno.env).
const ENV_VAR = "PATH";

/** Worker permissions need `--unstable-worker-options` (or deno.json `"unstable": ["worker-options"]`); without it Deno exits the whole run. */
const WORKER_OPTIONS =
  Deno.readTextFileSync("/proc/self/cmdline").split("\0").includes(
    "--unstable-worker-options",
  ) ||
  (JSON.parse(
    Deno.readTextFileSync(new URL("../../../deno.json", import.meta.url)),
  )
    .unstable ?? []).includes("worker-options");

function test(name: string, fn: () => Promise<void> | void): void {
  Deno.test({ name, ignore: !WORKER_OPTIONS, fn });
}
const ctx = {
  alert: { ip: "192.0.2.1" },
  alertId: "a-1",
  detector: "d",
  args: ["192.0.2.1"],
  settings: { answer: 42 },
};

function entryOf(
  url: string,
  name: string,
  builtin = false,
): PluginEntry<AnyPlugin> {
  return {
    name,
    aliases: [],
    url,
    builtin,
    load: () => Promise.reject(new Error("not used")),
  };
}

async function plugin(
  url: string,
): Promise<{ entry: PluginEntry<AnyPlugin>; plugin: AnyPlugin }> {
  const loaded = (await import(url)).default as AnyPlugin;
  return { entry: entryOf(url, loaded.name), plugin: loaded };
}

/** A loopback server that answers "hello from <port>" and counts requests; `hold` delays answers until released. */
function server(options: { hold?: boolean } = {}) {
  const waiting: (() => void)[] = [];
  let requests = 0;
  let port = 0;
  const http: Deno.HttpServer<Deno.NetAddr> = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
  }, async () => {
    requests++;
    if (options.hold) {
      await new Promise<void>((resolve) => waiting.push(resolve));
    }
    return new Response(`hello from ${port}`);
  });
  port = http.addr.port;
  return {
    port: http.addr.port,
    get requests() {
      return requests;
    },
    get waiting() {
      return waiting.length;
    },
    release: () => waiting.splice(0).forEach((resolve) => resolve()),
    close: async () => {
      waiting.splice(0).forEach((resolve) => resolve());
      await http.shutdown();
    },
  };
}

/** Writes a well-behaved test plugin granted exactly `127.0.0.1:<port>` and one env variable. */
async function helperPlugin(
  dir: string,
  port: number,
  loadDelayMs = 0,
): Promise<string> {
  const file = `${dir}/helper.ts`;
  await Deno.writeTextFile(
    file,
    `import process from "node:process";
import { z } from "zod";
for (const end = Date.now() + ${loadDelayMs}; Date.now() < end;); // a slow load: the event loop is busy
export default {
  name: "helper",
  params: z.looseObject({ mode: z.string(), ms: z.number().optional(), url: z.string().optional(), secret: z.string().optional(), wait: z.boolean().optional() }),
  permissions: { net: ["127.0.0.1:${port}"], env: ["${ENV_VAR}"] },
  async run(params, ctx) {
    if (params.wait) await (await fetch("http://127.0.0.1:${port}/hold", { signal: ctx.signal })).text();
    switch (params.mode) {
      case "echo": return { params, alert: ctx.alert, alertId: ctx.alertId, detector: ctx.detector, args: ctx.args, settings: ctx.settings };
      case "fetch": return { body: await (await fetch(params.url, { signal: ctx.signal })).text() };
      case "env": return { deno: Deno.env.get("${ENV_VAR}"), process: process.env["${ENV_VAR}"] ?? null, keys: Object.keys(process.env) };
      case "home": return { home: Deno.env.get("HOME") };
      case "hang": return await new Promise(() => {});
      case "busy": { const end = Date.now() + params.ms; while (Date.now() < end); return { busy: true }; }
      case "log": ctx.log("token " + params.secret); console.log("console", params.secret); return { logged: true };
      case "bigint": return { big: 12n, missing: undefined };
      case "throw": throw new RangeError("bad range");
    }
    throw new TypeError("unknown mode " + params.mode);
  },
};
`,
  );
  return new URL(`file://${file}`).href;
}

/** Polls `check` between event-loop turns; fails (instead of hanging) if it stays false for 10 s. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1_000 && !check(); i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(check(), `never happened: ${what}`);
}

/** Why each worker was terminated, in order. */
function terminations(events: SandboxEvent[]): string[] {
  return events.flatMap((e) => e.type === "terminate" ? [e.reason] : []);
}

/** The helper plugin of one test, the server it may reach, and a way to call it. */
interface Helper {
  url: string;
  port: number;
  srv: ReturnType<typeof server>;
  entry: PluginEntry<AnyPlugin>;
  /** Invokes the helper (imported on first use) in the sandbox with `ctx`. */
  call(
    params: Record<string, unknown>,
    options?: {
      /** The call's deadline. @default 30_000 */
      timeoutMs?: number;
    },
  ): Promise<unknown>;
}

/** Runs `fn` with a freshly written helper plugin for `sandbox` (a plugin_dirs one unless `builtin`), then stops its server and removes it. */
async function withHelper(
  sandbox: ReturnType<typeof createSandboxInvoker>,
  fn: (h: Helper) => Promise<void>,
  options: { hold?: boolean; builtin?: boolean; loadDelayMs?: number } = {},
) {
  const dir = await Deno.makeTempDir({ prefix: "blitz-sandbox-" });
  const srv = server(options);
  try {
    const url = await helperPlugin(dir, srv.port, options.loadDelayMs);
    // As a built-in it runs in the worker pool; as a plugin_dirs plugin in child processes.
    const entry = entryOf(url, "helper", options.builtin ?? false);
    let loaded: AnyPlugin | undefined;
    await fn({
      url,
      port: srv.port,
      srv,
      entry,
      async call(params, { timeoutMs = 30_000 } = {}) {
        loaded ??= (await import(url)).default as AnyPlugin;
        return await sandbox.invoke(entry, loaded, params, ctx, { timeoutMs });
      },
    });
  } finally {
    await srv.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("workerPermissions() grants what is declared plus reading the plugin's modules, nothing else", () => {
  const p = workerPermissions(
    { net: ["api.example:443"], env: [] },
    "file:///srv/plugins/x.ts",
  );
  assert.deepEqual(p.net, ["api.example:443"]);
  assert.equal(p.env, false);
  assert.deepEqual(p.read, [
    "/srv/plugins/",
    new URL("../../", import.meta.url).pathname,
  ]);
  for (const kind of ["write", "run", "ffi", "sys", "import"] as const) {
    assert.equal(p[kind], false, kind);
  }
  assert.equal(
    workerPermissions({ net: true, read: true }, "file:///x.ts").read,
    true,
  );
  assert.equal(workerPermissions({ net: true }, "file:///x.ts").net, true);
});

test("createSandboxInvoker() denies every permission a plugin did not declare", async () => {
  const sandbox = createSandboxInvoker();
  const srv = server();
  try {
    const cases: [string, unknown, RegExp][] = [
      ["read_env.ts", {}, /^permission denied: env access to "HOME"$/],
      [
        "read_file.ts",
        {},
        /^permission denied: read access to "\/etc\/passwd"$/,
      ],
      [
        "fetch_undeclared.ts",
        { url: `http://127.0.0.1:${srv.port}/` },
        new RegExp(
          `^permission denied: net access to "127\\.0\\.0\\.1:${srv.port}"$`,
        ),
      ],
      ["spawn.ts", {}, /^permission denied: run access to "id"$/],
      [
        "import_outside.ts",
        {},
        /^permission denied: read access to "\/etc\/passwd"$/,
      ],
    ];
    for (const [file, params, expected] of cases) {
      const { entry, plugin: p } = await plugin(new URL(file, EVIL).href);
      await assert.rejects(
        sandbox.invoke(entry, p, params, ctx, { timeoutMs: 30_000 }),
        (err: Error) => {
          assert.match(err.message, expected, file);
          assert.equal(err.name, "NotCapable");
          return true;
        },
      );
    }
    assert.equal(srv.requests, 0);
    const stats = sandbox.stats();
    assert.equal(stats.evil_spawn?.errors, 1);
    assert.equal(
      stats.evil_spawn?.workers,
      1,
      "a denied call does not cost the worker",
    );
  } finally {
    await sandbox.close();
    await srv.close();
  }
});

test("createSandboxInvoker() lets a plugin reach exactly its declared host:port", async () => {
  const other = server();
  const sandbox = createSandboxInvoker();
  try {
    await withHelper(sandbox, async ({ call, port }) => {
      const ok = await call({
        mode: "fetch",
        url: `http://127.0.0.1:${port}/`,
      });
      assert.deepEqual(ok, { body: `hello from ${port}` });
      await assert.rejects(
        call({ mode: "fetch", url: `http://127.0.0.1:${other.port}/` }),
        {
          message: `permission denied: net access to "127.0.0.1:${other.port}"`,
        },
      );
      assert.equal(other.requests, 0);
    });
  } finally {
    await sandbox.close();
    await other.close();
  }
});

test("createSandboxInvoker() passes params and context and returns JSON", async () => {
  const sandbox = createSandboxInvoker();
  try {
    await withHelper(sandbox, async ({ call }) => {
      assert.deepEqual(
        await call({ mode: "echo" }),
        { params: { mode: "echo" }, ...ctx },
      );
      assert.deepEqual(await call({ mode: "bigint" }), { big: "12" });
      await assert.rejects(
        call({ mode: "throw" }),
        { name: "RangeError", message: "bad range" },
      );
    });
  } finally {
    await sandbox.close();
  }
});

test("createSandboxInvoker() shows a plugin only its declared environment variables", async () => {
  const declared = Deno.env.get(ENV_VAR);
  assert.ok(declared, `${ENV_VAR} is set in the test process`);
  const sandbox = createSandboxInvoker();
  try {
    await withHelper(sandbox, async ({ call }) => {
      const env = await call({ mode: "env" });
      assert.deepEqual(env, {
        deno: declared,
        process: declared,
        keys: [ENV_VAR],
      });
      await assert.rejects(
        call({ mode: "home" }),
        { message: 'permission denied: env access to "HOME"' },
      );
    });
  } finally {
    await sandbox.close();
  }
});

test("createSandboxInvoker() redacts secrets from plugin logs and console output", async () => {
  const secret = `sandbox-secret-${crypto.randomUUID()}`;
  registerSecret(secret);
  const lines: string[] = [];
  const sandbox = createSandboxInvoker({ log: (line) => lines.push(line) });
  try {
    await withHelper(sandbox, async ({ call }) => {
      await call({ mode: "log", secret });
    });
    assert.deepEqual(lines, [
      "[helper] token [redacted]",
      "[helper] console [redacted]",
    ]);
  } finally {
    await sandbox.close();
  }
});

test("createSandboxInvoker() rejects a built-in's overrun call at its deadline and replaces its worker", async () => {
  const events: SandboxEvent[] = [];
  // A grace far above any load: the ack of a live worker must win, so the reason is "timeout", never
  // "blocked" (the default 1 s grace lost to a loaded CI machine once).
  const sandbox = createSandboxInvoker({
    onMetrics: (e) => events.push(e),
    graceMs: 10_000,
  });
  try {
    await withHelper(sandbox, async ({ call }) => {
      await assert.rejects(
        call({ mode: "hang" }, { timeoutMs: 200 }),
        (err: Error) => {
          assert.ok(err instanceof TimeoutError);
          assert.equal(err.message, "timed out after 200 ms");
          return true;
        },
      );
      // The worker acknowledges the abort (its event loop is alive), so it is terminated, not stuck.
      await until(
        () => events.some((e) => e.type === "terminate"),
        "the worker was terminated",
      );
      assert.deepEqual(events.filter((e) => e.type === "terminate"), [{
        type: "terminate",
        plugin: "helper",
        reason: "timeout",
      }]);
      assert.deepEqual(await call({ mode: "bigint" }), { big: "12" });
      assert.deepEqual(sandbox.stats().helper, {
        workers: 1,
        spawned: 2,
        terminated: 1,
        calls: 2,
        errors: 0,
        timeouts: 1,
        stuck: 0,
        disabled: 0,
      });
    }, { builtin: true });
  } finally {
    await sandbox.close();
  }
});

test("createSandboxInvoker() does not count a built-in's worker that is still loading at a call's deadline as stuck", async () => {
  const events: SandboxEvent[] = [];
  // The module's evaluation keeps the worker busy for 1.5 s (a slow start on a loaded host), far past
  // the call's deadline and the grace: the worker cannot read the abort until it has loaded.
  const sandbox = createSandboxInvoker({
    onMetrics: (e) => events.push(e),
    graceMs: 50,
    maxStuck: 1,
  });
  try {
    await withHelper(sandbox, async ({ call }) => {
      await assert.rejects(call({ mode: "hang" }, { timeoutMs: 100 }), {
        name: "TimeoutError",
        message: "timed out after 100 ms",
      });
      await until(
        () => events.some((e) => e.type === "terminate"),
        "the worker was terminated",
      );
      // It acknowledged the abort once loaded: retired for the timeout, not blocked, not disabled.
      assert.deepEqual(terminations(events), ["timeout"]);
      assert.equal(sandbox.stats().helper?.stuck, 0);
      assert.equal(sandbox.stats().helper?.disabled, 0);
      assert.deepEqual(await call({ mode: "bigint" }), { big: "12" });
    }, { builtin: true, loadDelayMs: 1_500 });
  } finally {
    await sandbox.close();
  }
});

test("createSandboxInvoker() counts a built-in's worker blocked past the deadline as stuck and disables the plugin at maxStuck", async () => {
  const events: SandboxEvent[] = [];
  const sandbox = createSandboxInvoker({
    graceMs: 50,
    maxStuck: 1,
    onMetrics: (e) => events.push(e),
  });
  try {
    await withHelper(sandbox, async ({ call }) => {
      // Warm the worker first, so the short deadline below is spent blocking, not starting up.
      await call({ mode: "echo" });
      // Busy for 1.5 s without yielding: Deno cannot interrupt it, so keep it short-lived in tests.
      await assert.rejects(
        call({ mode: "busy", ms: 1_500 }, { timeoutMs: 200 }),
        TimeoutError,
      );
      await until(
        () => sandbox.stats().helper?.disabled === 1,
        "the plugin was disabled",
      );
      assert.deepEqual(terminations(events), ["blocked"]);
      await assert.rejects(
        call({ mode: "echo" }),
        {
          message:
            'Plugin "helper" is disabled: 1 calls blocked its sandbox worker past their deadline; restart Blitz to re-enable it',
        },
      );
      assert.equal(sandbox.stats().helper?.stuck, 1);
    }, { builtin: true });
  } finally {
    await sandbox.close();
  }
});

test("createSandboxInvoker() stops a built-in's shared worker whose overrun call blocks it", async () => {
  const events: SandboxEvent[] = [];
  const sandbox = createSandboxInvoker({
    poolSize: 1,
    graceMs: 50,
    maxStuck: 5,
    onMetrics: (e) => events.push(e),
  });
  try {
    await withHelper(sandbox, async ({ call, srv }) => {
      const waiting = call({ mode: "echo", wait: true });
      const waitingFailed = assert.rejects(waiting, {
        message:
          'Sandbox worker of "helper" stopped: a call that overran its deadline blocked it',
      });
      await until(() => srv.waiting > 0, "the call reached the server");
      await assert.rejects(
        call({ mode: "busy", ms: 2_000 }, { timeoutMs: 200 }),
        TimeoutError,
      );
      await waitingFailed;
      assert.equal(sandbox.stats().helper?.stuck, 1);
      assert.deepEqual(terminations(events), ["blocked"]);
      assert.deepEqual(
        await call({ mode: "echo" }),
        { params: { mode: "echo" }, ...ctx },
      );
    }, { hold: true, builtin: true });
  } finally {
    await sandbox.close();
  }
});

test("createSandboxInvoker() retires a built-in's shared worker after an overrun and lets its other calls finish", async () => {
  const events: SandboxEvent[] = [];
  const sandbox = createSandboxInvoker({
    poolSize: 1,
    graceMs: 10_000,
    onMetrics: (e) => events.push(e),
  });
  try {
    await withHelper(sandbox, async ({ call, srv }) => {
      const waiting = call({ mode: "echo", wait: true });
      await until(() => srv.waiting > 0, "the call reached the server");
      await assert.rejects(
        call({ mode: "hang" }, { timeoutMs: 200 }),
        TimeoutError,
      );
      // The retired worker takes no new call: this one starts a second worker although poolSize is 1.
      assert.deepEqual(await call({ mode: "bigint" }), { big: "12" });
      assert.equal(terminations(events).length, 0);
      srv.release();
      assert.deepEqual(await waiting, {
        params: { mode: "echo", wait: true },
        ...ctx,
      });
      assert.deepEqual(terminations(events), ["timeout"]);
      assert.equal(sandbox.stats().helper?.spawned, 2);
    }, { hold: true, builtin: true });
  } finally {
    await sandbox.close();
  }
});

test("createSandboxInvoker() runs a built-in's concurrent calls on at most poolSize workers", async () => {
  const sandbox = createSandboxInvoker({ poolSize: 2 });
  try {
    await withHelper(sandbox, async ({ call, srv }) => {
      const n = 20;
      const calls = Array.from(
        { length: n },
        (_, i) => call({ mode: "echo", wait: true, url: String(i) }),
      );
      // All 20 are in flight at once (the server holds every answer), so none waits for another.
      await until(() => srv.waiting === n, "all calls in flight at once");
      srv.release();
      const results = (await Promise.all(calls)) as {
        params: { url: string };
      }[];
      assert.deepEqual(
        results.map((r) => r.params.url),
        Array.from({ length: n }, (_, i) => String(i)),
      );
      assert.equal(sandbox.stats().helper?.spawned, 2);
    }, { hold: true, builtin: true });
  } finally {
    await sandbox.close();
  }
});

test("createSandboxInvoker() close() ends every sandbox process and rejects calls in flight and after", async () => {
  const sandbox = createSandboxInvoker();
  await withHelper(sandbox, async ({ call, srv }) => {
    await call({ mode: "echo" });
    const inflight = call({ mode: "echo", wait: true });
    const inflightFailed = assert.rejects(inflight, {
      message: "The sandbox is closed",
    });
    await until(() => srv.waiting > 0, "the call reached the server");
    await sandbox.close();
    await inflightFailed;
    await assert.rejects(
      call({ mode: "echo" }),
      { message: "The sandbox is closed" },
    );
    assert.equal(sandbox.stats().helper?.workers, 0);
  }, { hold: true });
});

test("createSandboxInvoker() runs a built-in plugin with its declared permissions", async () => {
  const registry = await loadRegistry();
  const builtin = registry.enrichment("http_api");
  const p = await builtin.load();
  const sandbox = createSandboxInvoker();
  const srv = server();
  try {
    const params = p.params!.parse({
      url: `http://127.0.0.1:${srv.port}/x`,
      allow_private: true,
    });
    const value = await sandbox.invoke(
      entryOf(builtin.url, "http_api", true),
      p,
      params,
      ctx,
      { timeoutMs: 30_000 },
    );
    assert.match(JSON.stringify(value), new RegExp(`hello from ${srv.port}`));
    assert.equal(sandbox.stats().http_api?.spawned, 1);
  } finally {
    await sandbox.close();
    await srv.close();
  }
});

test("loadSandboxed() keeps a plugin's top-level code out of this process", async () => {
  await assert.rejects(
    loadSandboxed(new URL("load_time/top_level_env.ts", EVIL).href),
    { message: 'permission denied: env access to "HOME"' },
  );
  const sandbox = createSandboxInvoker();
  try {
    await withHelper(sandbox, async ({ url, port, entry }) => {
      const standIn = await loadSandboxed(url);
      assert.equal(standIn.name, "helper");
      assert.deepEqual(standIn.permissions, {
        net: [`127.0.0.1:${port}`],
        env: [ENV_VAR],
      });
      assert.throws(() => standIn.run(), {
        message: 'Plugin "helper" runs only in the sandbox',
      });
      // Params are validated by the plugin's own schema, inside the worker.
      await assert.rejects(
        sandbox.invoke(
          entry,
          standIn as unknown as AnyPlugin,
          { mode: 7 },
          ctx,
          { timeoutMs: 30_000 },
        ),
        {
          name: "TypeError",
          message:
            "invalid params: mode: Invalid input: expected string, received number",
        },
      );
      assert.deepEqual(
        await sandbox.invoke(
          entry,
          standIn as unknown as AnyPlugin,
          { mode: "bigint" },
          ctx,
          { timeoutMs: 30_000 },
        ),
        { big: "12" },
      );
    });
  } finally {
    await sandbox.close();
  }
});

test("createSandboxInvoker() runs an action plugin like an enrichment", async () => {
  const url = new URL(
    "../../../tests/fixtures/plugins/good/actions/stamp.ts",
    import.meta.url,
  )
    .href;
  const sandbox = createSandboxInvoker();
  try {
    const { entry, plugin: p } = await plugin(url);
    assert.deepEqual(
      await sandbox.invoke(entry, p, { value: "ticket-1" }, ctx, {
        timeoutMs: 30_000,
      }),
      { stamped: "ticket-1" },
    );
  } finally {
    await sandbox.close();
  }
});
