/**
 * `blitz serve`'s listener under hostile clients (issue 16 items 2 and 7), a child process on a real
 * port: silent connections and header drippers are dropped at their deadline, a connection over
 * max_connections gets a fast 503, running out of file descriptors is survived, a listening socket that
 * dies makes serve exit non-zero, and an error answer closes a connection whose client keeps sending.
 */
import assert from "node:assert/strict";
import { writeProject } from "./_config.ts";
import { type ServeProcess, startServe } from "./_serve.ts";
import { openTcp, pour, serverEnds } from "./_tcp.ts";

const TOKEN = `ingest-${crypto.randomUUID()}`;

function runs(command: string, args: string[]): boolean {
  try {
    return new Deno.Command(command, { args, stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}
/** `prlimit` (util-linux) starts serve with a lower file-descriptor limit. */
const HAS_PRLIMIT = runs("prlimit", ["--version"]);
/** `ss -K` (root, kernel SOCK_DESTROY) closes serve's listening socket from outside the process. */
const CAN_KILL_SOCKETS = Deno.uid() === 0 && runs("ss", ["-V"]);
const BOUND_MS = 20_000; // a bound on waits, not a timing: the deadlines below are 1 s

async function withServe(
  global: Record<string, unknown>,
  body: (server: ServeProcess) => Promise<void>,
  options: { wrap?: string[] } = {},
): Promise<void> {
  const project = await writeProject({
    global: {
      listen: "127.0.0.1:0",
      ingest_tokens: ["${env:BLITZ_INGEST_TOKEN}"],
      max_body_bytes: 64 * 1024,
      ...global,
    },
    detectors: { t1: { subject: "Alert {n}", enrichments: [] } },
  });
  const server = await startServe({
    config: project.config,
    env: { ...project.env, BLITZ_INGEST_TOKEN: TOKEN },
    dirs: [project.dir],
    writeDirs: [project.dataDir],
    ...(options.wrap ? { wrap: options.wrap } : {}),
  });
  try {
    await body(server);
  } finally {
    await server.stop("SIGKILL");
    await project.cleanup();
  }
}

async function healthy(server: ServeProcess): Promise<number> {
  const res = await fetch(`${server.url}/healthz`);
  await res.body?.cancel();
  return res.status;
}

Deno.test("serve closes the connection after a 401 or 413 instead of reading an endless body (issue 16 item 7)", async () => {
  await withServe({}, async (server) => {
    const unauthenticated =
      "POST /ingest/t1 HTTP/1.1\r\nHost: blitz\r\nContent-Type: application/json\r\n";
    const cases = [
      {
        name: "401, Content-Length of 100 GB",
        head: `${unauthenticated}Content-Length: 100000000000\r\n\r\n`,
        chunk: "a".repeat(16 * 1024),
        status: 401,
      },
      {
        name: "401, endless chunked body in small chunks",
        head: `${unauthenticated}Transfer-Encoding: chunked\r\n\r\n`,
        chunk: "1\r\na\r\n",
        status: 401,
      },
      {
        name: "413, endless chunked body past max_body_bytes",
        head:
          `POST /ingest/t1 HTTP/1.1\r\nHost: blitz\r\nAuthorization: Bearer ${TOKEN}\r\n` +
          "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        chunk: `400\r\n${" ".repeat(0x400)}\r\n`,
        status: 413,
      },
    ];
    for (const { name, head, chunk, status } of cases) {
      const conn = await openTcp(server.url);
      const writer = pour(conn, head, chunk);
      const { end, received } = await serverEnds(conn, BOUND_MS);
      writer.stop();
      await writer.done;
      assert.match(received, new RegExp(`^HTTP/1.1 ${status} `), name);
      assert.equal(
        end,
        "closed",
        `${name}: still open, ${writer.sent()} bytes read`,
      );
    }
    assert.equal(await healthy(server), 200);
  });
});

Deno.test("serve drops silent connections, header drippers and idle keep-alive connections at their deadline; a new client still connects (issue 16 item 2)", async () => {
  await withServe(
    { header_timeout: "1s", idle_timeout: "1s" },
    async (server) => {
      const silent = await Promise.all(
        Array.from({ length: 100 }, () => openTcp(server.url)),
      );
      const drippers = await Promise.all(
        Array.from({ length: 10 }, () => openTcp(server.url)),
      );
      const writers = drippers.map((conn) =>
        pour(conn, "GET /healthz HTTP/1.1\r\nHost: blitz\r\n", "X", 200)
      );
      const idle = await openTcp(server.url);
      const idleEnd = (async () => {
        await idle.write(
          new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: b\r\n\r\n"),
        );
        return await serverEnds(idle, BOUND_MS);
      })();
      const ends = await Promise.all(
        [...silent, ...drippers].map((conn) => serverEnds(conn, BOUND_MS)),
      );
      for (const w of writers) w.stop();
      const open = ends.filter((e) => e.end === "open").length;
      assert.equal(open, 0, `${open} of ${ends.length} connections kept open`);
      const kept = await idleEnd;
      assert.match(kept.received, /^HTTP\/1.1 200 /);
      assert.equal(kept.end, "closed", "the idle keep-alive connection");
      assert.equal(await healthy(server), 200);
    },
  );
});

Deno.test("serve refuses a connection over max_connections at once with 503 and Retry-After, and takes new ones when they close (issue 16 item 2)", async () => {
  await withServe(
    { max_connections: 20, header_timeout: "60s" },
    async (server) => {
      const held = await Promise.all(
        Array.from({ length: 20 }, () => openTcp(server.url)),
      );
      // The 20 are accepted in order; one request on the last proves the listener counted them all.
      const over = await openTcp(server.url);
      const refused = await serverEnds(over, BOUND_MS);
      assert.equal(refused.end, "closed");
      assert.match(refused.received, /^HTTP\/1.1 503 /);
      assert.match(refused.received, /\r\nRetry-After: 1\r\n/);
      await server.waitForLog(
        (l) => l.event === "connections_refused",
        BOUND_MS,
      );
      for (const conn of held) conn.close();
      const deadline = Date.now() + BOUND_MS;
      let status = 0;
      while (status !== 200 && Date.now() < deadline) {
        status = await healthy(server).catch(() => 0);
        if (status !== 200) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(status, 200);
    },
  );
});

Deno.test({
  name:
    "serve survives running out of file descriptors: after the idle connections go, new clients connect (issue 16 item 2)",
  ignore: !HAS_PRLIMIT,
}, async () => {
  // A fd limit of 200 under a max_connections of 512: the limit is reached first, as in the review.
  await withServe({ header_timeout: "60s" }, async (server) => {
    const held: Deno.TcpConn[] = [];
    for (let i = 0; i < 260; i++) held.push(await openTcp(server.url));
    await server.waitForLog((l) => l.event === "accept_failed", BOUND_MS);
    for (const conn of held) conn.close();
    const deadline = Date.now() + BOUND_MS;
    let status = 0;
    while (status !== 200 && Date.now() < deadline) {
      status = await healthy(server).catch(() => 0);
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(
      status,
      200,
      "no new connection after the descriptors came back",
    );
  }, { wrap: ["prlimit", "--nofile=200:200", "--"] });
});

Deno.test({
  name: "serve exits non-zero when its listening socket dies (issue 16 item 2)",
  ignore: !CAN_KILL_SOCKETS,
}, async () => {
  await withServe({}, async (server) => {
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
