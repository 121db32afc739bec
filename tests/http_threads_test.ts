/**
 * `serve` with `http_threads` (issue 17): HTTP served by worker threads on one port (SO_REUSEPORT),
 * the alerts committed by the main thread. A child process on a real port: ingest answers as without
 * threads (202 with the ids once stored, NDJSON batches, Idempotency-Key retries and 422, 401 with its
 * log line, 400 naming the line, 413), other routes are passed to the main thread, every accepted
 * alert is in the store after SIGTERM, and a listening socket that dies makes serve exit 1.
 */
import assert from "node:assert/strict";
import { writeProject } from "./_config.ts";
import { type ServeProcess, startServe } from "./_serve.ts";
import { openSqliteStore } from "../core/store/sqlite/sqlite.ts";

const TOKEN = `ingest-${crypto.randomUUID()}`;
const HEADERS = {
  Authorization: `Bearer ${TOKEN}`,
  "Content-Type": "application/json",
};
const BOUND_MS = 20_000; // a bound on waits, not a timing

function runs(command: string, args: string[]): boolean {
  try {
    return new Deno.Command(command, { args, stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}
/** `ss -K` (root, kernel SOCK_DESTROY) closes serve's listening sockets from outside the process. */
const CAN_KILL_SOCKETS = Deno.uid() === 0 && runs("ss", ["-V"]);

async function withThreads(
  body: (server: ServeProcess, dataDir: string) => Promise<void>,
): Promise<void> {
  const project = await writeProject({
    global: {
      listen: "127.0.0.1:0",
      ingest_tokens: ["${env:BLITZ_INGEST_TOKEN}"],
      max_body_bytes: 64 * 1024,
      workers: 0,
      http_threads: 2,
    },
    detectors: { t1: { subject: "Alert {n}", enrichments: [] } },
  });
  const server = await startServe({
    config: project.config,
    env: { ...project.env, BLITZ_INGEST_TOKEN: TOKEN },
    dirs: [project.dir],
    writeDirs: [project.dataDir],
  });
  try {
    await body(server, project.dataDir);
  } finally {
    await server.stop("SIGKILL");
    await project.cleanup();
  }
}

async function post(
  server: ServeProcess,
  body: string,
  headers: Record<string, string> = HEADERS,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${server.url}/ingest/t1`, {
    method: "POST",
    headers,
    body,
  });
  return { status: res.status, json: await res.json() };
}

Deno.test("serve with http_threads: ingest answers as without threads, other routes are served, and every 202 is in the store", async () => {
  await withThreads(async (server, dataDir) => {
    assert.ok(
      server.logs.some((l) => l.event === "listening" && l.http_threads === 2),
    );
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(health.headers.get("x-content-type-options"), "nosniff");
    await health.body?.cancel();

    const accepted = new Set<string>();
    // Many connections, so both threads take some (the kernel spreads them).
    const singles = await Promise.all(
      Array.from({ length: 40 }, (_, n) => post(server, `{"n":${n}}`)),
    );
    for (const { status, json } of singles) {
      assert.equal(status, 202);
      assert.equal(json.accepted, 1);
      for (const id of json.ids as string[]) accepted.add(id);
    }
    const batch = await post(server, '{"n":1}\n{"n":2}\n\n{"n":3}\n', {
      ...HEADERS,
      "Content-Type": "application/x-ndjson",
    });
    assert.equal(batch.status, 202);
    assert.equal(batch.json.accepted, 3);
    for (const id of batch.json.ids as string[]) accepted.add(id);

    // Idempotency-Key: a retry gets the original id, another body under the key is a 422.
    const keyed = { ...HEADERS, "Idempotency-Key": "k-1" };
    const first = await post(server, '{"n":"k"}', keyed);
    assert.equal(first.status, 202);
    for (const id of first.json.ids as string[]) accepted.add(id);
    const retry = await post(server, '{"n":"k"}', keyed);
    assert.equal(retry.status, 202);
    assert.deepEqual(retry.json.ids, first.json.ids);
    assert.equal(retry.json.duplicates, 1);
    const reused = await post(server, '{"n":"other"}', keyed);
    assert.equal(reused.status, 422);
    assert.deepEqual(reused.json.ids, first.json.ids);

    // Refusals, from the thread or the main thread, as without threads.
    const bad = await post(server, '{"n":1}', {
      ...HEADERS,
      Authorization: "Bearer wrong-token-wrong-token",
    });
    assert.equal(bad.status, 401);
    await server.waitForLog((l) => l.event === "ingest_auth_failed", BOUND_MS);
    const broken = await post(server, '{"n":1}\n{"n":', {
      ...HEADERS,
      "Content-Type": "application/x-ndjson",
    });
    assert.equal(broken.status, 400);
    assert.match(String(broken.json.error), /^Line 2: invalid JSON/);
    const large = await post(server, `{"n":"${"x".repeat(70 * 1024)}"}`);
    assert.equal(large.status, 413);
    const unknown = await fetch(`${server.url}/ingest/nope`, {
      method: "POST",
      headers: HEADERS,
      body: "{}",
    });
    assert.equal(unknown.status, 404);
    await unknown.body?.cancel();

    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(
      metrics,
      /blitz_http_responses_total\{[^}]*code="413"[^}]*\} 1/,
    );

    for (const id of accepted) {
      assert.ok(
        server.logs.some((l) => l.event === "accepted" && l.alert_id === id),
        `accepted line for ${id}`,
      );
    }
    const status = await server.stop("SIGTERM");
    assert.equal(status.code, 0);
    const store = openSqliteStore(`${dataDir}/blitz.db`);
    try {
      for (const id of accepted) {
        const alert = await store.getAlert(id);
        assert.ok(alert, `alert ${id} is stored`);
        assert.equal(alert.status, "queued");
      }
      const keyedAlert = await store.getAlert((first.json.ids as string[])[0]!);
      assert.deepEqual(keyedAlert?.alert, { n: "k" });
    } finally {
      await store.close();
    }
  });
});

Deno.test({
  name: "serve with http_threads exits 1 when its listening sockets die",
  ignore: !CAN_KILL_SOCKETS,
}, async () => {
  await withThreads(async (server) => {
    const port = new URL(server.url).port;
    const killed = await new Deno.Command("ss", {
      args: ["-K", "-t", "state", "listening", `sport = :${port}`],
      stdout: "null",
    }).output();
    assert.ok(killed.success);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const status = await Promise.race([
      server.exited,
      new Promise<null>((
        resolve,
      ) => (timer = setTimeout(resolve, BOUND_MS, null))),
    ]);
    clearTimeout(timer);
    assert.ok(status, "serve kept running without a listener");
    assert.equal(status.code, 1);
    await server.waitForLog((l) => l.event === "listener_failed", 1_000);
  });
});
