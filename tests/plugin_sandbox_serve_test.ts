/**
 * Issue 16 item 1 through a real `blitz serve` (the serve task's flags, `--allow-run=deno` included):
 * a plugin that allocates without end and one that spins in `while (true) {}` no longer take the
 * service down. The alert gets "plugin crashed: out of memory (cap 48 MB)" and "plugin timed out after
 * 5 s and was killed", is still mailed, the service answers /healthz and processes the next alert, and
 * when it stops no plugin process is left behind.
 */
import assert from "node:assert/strict";
import { alive } from "./_task.ts";
import { DatabaseSync } from "node:sqlite";
import { simpleParser } from "mailparser";
import { writeProject } from "./_config.ts";
import { ingestRequest } from "./_ingest.ts";
import { startServe } from "./_serve.ts";

const TOKEN = `ingest-${crypto.randomUUID()}`;

/** The pids whose parent is `pid` (from /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      // pid (comm) state ppid …: comm may hold spaces, so read after the last ")".
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(entry.name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

Deno.test("serve survives a plugin that allocates without end and one that spins: clear errors in the email, the next alert runs, no orphans", async () => {
  const project = await writeProject({
    global: {
      listen: "127.0.0.1:0",
      ingest_tokens: ["${env:BLITZ_INGEST_TOKEN}"],
      plugin_dirs: ["plugins"],
      plugin_memory_mb: 48,
    },
    detectors: {
      rogue: {
        subject: "Rogue {n}",
        enrichments: [
          // Generous where the test is not about the deadline: under load V8 takes over 5 s (the
          // default) to give up at the heap cap, and the deadline counts a cold process's start.
          { e_name: "Hog", e_func: "hog", e_key: "n", timeout: "60s" },
          { e_name: "Spin", e_func: "spin", e_key: "n", timeout: "5s" },
          { e_name: "Echo", e_func: "echo", e_key: "n", timeout: "60s" },
        ],
      },
    },
    files: {
      "plugins/hog.ts":
        `/** Allocates until V8 gives up. */\nexport default { name: "hog", positional: ["n"], run: () => { const kept = []; for (;;) kept.push({ s: "x" + Math.random() }); } };\n`,
      "plugins/spin.ts":
        `/** Never yields. */\nexport default { name: "spin", positional: ["n"], run: () => { for (;;) {} } };\n`,
      "plugins/echo.ts":
        `/** Well behaved. */\nexport default { name: "echo", positional: ["n"], run: ({ n }) => ({ n }) };\n`,
    },
  });
  const server = await startServe({
    config: project.config,
    env: { ...project.env, BLITZ_INGEST_TOKEN: TOKEN },
    dirs: [project.dir],
    writeDirs: [project.dataDir],
  });
  try {
    const row = (id: string) => {
      const db = new DatabaseSync(`${project.dataDir}/blitz.db`, {
        readOnly: true,
      });
      try {
        return db.prepare("SELECT status, enrichments FROM alerts WHERE id = ?")
          .get(id) as { status: string; enrichments: string | null };
      } finally {
        db.close();
      }
    };
    const ingest = async (n: string) => {
      const res = await fetch(
        `${server.url}/ingest/rogue`,
        ingestRequest(TOKEN, JSON.stringify({ n })),
      );
      assert.equal(res.status, 202);
      const [id] = (await res.json()).ids as string[];
      const deadline = Date.now() + 60_000;
      while (
        ["queued", "processing"].includes(row(id!).status) &&
        Date.now() < deadline
      ) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return row(id!);
    };

    for (const n of ["1", "2"]) {
      const done = await ingest(n);
      assert.equal(
        done.status,
        "delivered",
        `alert ${n}: ${JSON.stringify(done)}`,
      );
      const byName = Object.fromEntries(
        (JSON.parse(done.enrichments ?? "[]") as {
          name: string;
          status: string;
          error?: string;
          data?: unknown;
        }[]).map((e) => [e.name, e]),
      );
      assert.deepEqual(
        [byName.Hog?.status, byName.Hog?.error],
        ["error", "plugin crashed: out of memory (cap 48 MB)"],
      );
      assert.deepEqual(
        [byName.Spin?.status, byName.Spin?.error],
        ["timeout", "plugin timed out after 5 s and was killed"],
      );
      assert.deepEqual(byName.Echo?.data, { n });
      const health = await fetch(`${server.url}/healthz`);
      assert.equal(health.status, 200);
      await health.body?.cancel();
    }
    const mails = await Promise.all(
      [...Deno.readDirSync(`${project.dataDir}/outbox`)].map(async (e) =>
        (await simpleParser(
          await Deno.readTextFile(`${project.dataDir}/outbox/${e.name}`),
        )).text ?? ""
      ),
    );
    assert.equal(mails.length, 2);
    const outbox = mails.join("\n");
    assert.match(outbox, /plugin crashed: out of memory \(cap 48 MB\)/);
    assert.match(outbox, /plugin timed out after 5 s and was killed/);

    const children = childrenOf(server.child.pid);
    assert.ok(children.length > 0, "the warm pool has plugin processes");
    const status = await server.stop("SIGTERM");
    assert.equal(status.code, 0);
    for (const pid of children) assert.ok(!alive(pid), `child ${pid} is gone`);
  } finally {
    await server.stop("SIGKILL").catch(() => {});
    await project.cleanup();
  }
});
