/**
 * A full disk, honestly (issues 15 and 16): `serve` with its `data_dir` on a small tmpfs. The disk is
 * filled while alerts arrive: ingest answers 503 with `Retry-After` (never a 500), `/healthz` says
 * the store cannot be written and why; once the filler is deleted ingest recovers by itself, and
 * every alert that got a 202, before or during the outage, is stored and delivered once to a real
 * SMTP server on loopback. The tmpfs is mounted here (root), else in the service's own user and
 * mount namespace (`unshare -rm`); skipped (with the reason) where neither works, unless
 * `BLITZ_REQUIRE_TMPFS=1` (`BLITZ_TMPFS_MODE=unshare` takes the namespace way even as root).
 *
 * @module
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { writeProject } from "./_config.ts";
import { ingestRequest } from "./_ingest.ts";
import { startServe } from "./_serve.ts";
import { startSmtpServer } from "./_smtp.ts";
import { fill, mountTmpfs, requireTmpfs } from "./_tmpfs.ts";
import { runCommand, runTask, shown } from "./_task.ts";

const TOKEN = `ingest-${crypto.randomUUID()}`;

/** Polls `condition` until it holds (bounded). */
async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The status of each alert in the store file at `path`. */
function readStatuses(path: string, ids: string[]): string[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const query = db.prepare("SELECT status FROM alerts WHERE id = ?");
    return ids.map((id) => String(query.get(id)?.status));
  } finally {
    db.close();
  }
}

Deno.test("serve on a full disk: 503 + Retry-After, /healthz unwritable with the reason, recovers by itself, loses nothing", async () => {
  // The relay answers nothing until the disk is full: the alerts accepted before are in flight
  // then, and their outcomes must be recorded once space returns (not mailed again).
  const relay = Promise.withResolvers<void>();
  const smtp = await startSmtpServer({ hold: relay.promise });
  const project = await writeProject({
    global: {
      listen: "127.0.0.1:0",
      ingest_tokens: ["${env:BLITZ_INGEST_TOKEN}"],
      smtp: `${smtp.url}?ignore_tls=1`,
      delivery: { max_attempts: 8, backoff: "100ms", max_backoff: "1s" },
      retention: undefined,
    },
    detectors: { d: { subject: "Disk {n}", enrichments: [] } },
  });
  const fs = await mountTmpfs({ sizeKiB: 4096, at: project.dataDir });
  if (!fs.ok) {
    await smtp.close();
    await project.cleanup();
    if (requireTmpfs()) throw new Error(fs.why);
    console.log(`skipped: ${fs.why}`);
    return;
  }
  if (fs.mode === "unshare") {
    console.log(
      "disk_full_test: mount is refused here; the tmpfs is the service's own (unshare -rm)",
    );
  }
  const env = { ...project.env, BLITZ_INGEST_TOKEN: TOKEN };
  let server;
  try {
    server = await startServe({
      config: project.config,
      env,
      dirs: [project.dir],
      writeDirs: [project.dataDir],
      wrap: fs.wrap,
    });
    // Where this process sees the tmpfs (through the service's namespace with unshare).
    const data = fs.view(server.child.pid);
    const accepted: string[] = [];
    let n = 0;
    const post = () =>
      fetch(
        `${server!.url}/ingest/d`,
        ingestRequest(TOKEN, JSON.stringify({ n: n++, pad: "x".repeat(2000) })),
      );
    // Before: accepted, and handed to the relay (which holds its answer).
    for (let i = 0; i < 20; i++) {
      const res = await post();
      assert.equal(res.status, 202);
      accepted.push(...(await res.json()).ids);
    }
    const before = accepted.length;

    const filler = await fill(data);
    // Alerts keep coming: those that still fit get a 202, then the store refuses.
    let refused: Response | undefined;
    for (let i = 0; i < 2000 && !refused; i++) {
      const res = await post();
      if (res.status === 202) accepted.push(...(await res.json()).ids);
      else refused = res;
    }
    assert.ok(refused, "ingest refused once the disk was full");
    const refusal = await refused.json();
    assert.equal(refused.status, 503, JSON.stringify(refusal));
    assert.ok(Number(refused.headers.get("retry-after")) >= 1);
    assert.match(refusal.error, /disk is full|No space/i);

    const health = await fetch(`${server.url}/healthz`);
    const body = await health.json();
    assert.equal(health.status, 503, JSON.stringify(body));
    assert.equal(body.store, "unwritable");
    assert.match(body.reason, /full|No space/i);

    // The CLI on the same full disk: a clear error, no stack trace, nothing recorded.
    const cli = await runTask("ingest", ["d"], {
      cwd: project.dir,
      env,
      stdin: '{"n":"cli"}',
      timeoutMs: 60_000,
      wrap: fs.enter(server.child.pid, project.dir),
    });
    assert.equal(cli.code, 1, shown(cli));
    assert.match(cli.stderr, /error: the store's disk is full/, shown(cli));
    assert.doesNotMatch(cli.stderr, /^\s+at /m, shown(cli));

    // The relay answers now, on a full disk: the outcomes wait for space, in memory.
    relay.resolve();
    await smtp.waitFor(1, 30_000);
    const stillFull = await fetch(`${server.url}/healthz`);
    assert.equal(stillFull.status, 503);
    await stillFull.body?.cancel();

    // Space comes back: nothing to do but delete the filler.
    await Deno.remove(filler);
    await until(async () => {
      const res = await post();
      if (res.status === 202) {
        accepted.push(...(await res.json()).ids);
        return true;
      }
      await res.body?.cancel();
      return false;
    }, "ingest to accept again");
    await until(async () => {
      const res = await fetch(`${server!.url}/healthz`);
      await res.body?.cancel();
      return res.status === 200;
    }, "/healthz to be 200 again");

    // Every alert that got a 202 is stored and mailed, once.
    await until(
      () => {
        const ids = new Set(
          smtp.messages.map((m) =>
            (m.parsed.messageId ?? "").replace(/^<|@.*$/g, "")
          ),
        );
        return accepted.every((id) => ids.has(id));
      },
      `all ${accepted.length} accepted alerts to be mailed`,
      120_000,
    );
    // …and recorded as delivered: the outcomes the full disk refused were held, then written.
    const statuses = async (): Promise<string[]> => {
      if (fs.mode === "mount") {
        return readStatuses(`${fs.path}/blitz.db`, accepted);
      }
      // SQLite resolves /proc/<pid>/root to the path outside the namespace: read it from inside.
      const run = await runCommand(
        fs.enter(server!.child.pid, project.dir)[0]!,
        [
          ...fs.enter(server!.child.pid, project.dir).slice(1),
          Deno.execPath(),
          "eval",
          `import { DatabaseSync } from "node:sqlite";
          const db = new DatabaseSync(${
            JSON.stringify(`${fs.path}/blitz.db`)
          }, { readOnly: true });
          const q = db.prepare("SELECT status FROM alerts WHERE id = ?");
          console.log(JSON.stringify(${
            JSON.stringify(accepted)
          }.map((id) => String(q.get(id)?.status))));`,
        ],
        { cwd: project.dir, timeoutMs: 30_000 },
      );
      assert.equal(run.code, 0, shown(run));
      return JSON.parse(run.stdout);
    };
    await until(
      async () => (await statuses()).every((s) => s === "delivered"),
      "every accepted alert recorded as delivered",
    ).catch(async (err) => {
      throw new Error(`${err.message}: ${(await statuses()).join(", ")}`);
    });
    const perId = new Map<string, number>();
    for (const m of smtp.messages) {
      const id = (m.parsed.messageId ?? "").replace(/^<|@.*$/g, "");
      perId.set(id, (perId.get(id) ?? 0) + 1);
    }
    assert.deepEqual([...perId.values()].filter((c) => c > 1), []);
    assert.ok(
      accepted.length > before,
      "ingest accepted again after the outage",
    );
  } finally {
    await server?.stop("SIGKILL");
    await fs.unmount();
    await smtp.close();
    await project.cleanup();
  }
});
