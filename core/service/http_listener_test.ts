/** The guarded listener in process: graceful shutdown, and an injected listener failure. */
import assert from "node:assert/strict";
import { serveGuarded } from "./http_listener.ts";

const LIMITS = {
  hostname: "127.0.0.1",
  port: 0,
  maxConnections: 8,
  headerTimeoutMs: 10_000,
  idleTimeoutMs: 10_000,
};

Deno.test("serveGuarded() shutdown answers the request in flight before it settles, as Deno.serve's does", async () => {
  const entered = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  const server = serveGuarded(LIMITS, async () => {
    entered.resolve();
    await release.promise;
    return new Response("done");
  });
  const url = `http://127.0.0.1:${server.addr.port}/`;
  const answer = fetch(url).then((res) => res.text());
  await entered.promise;
  const stopped = server.shutdown();
  release.resolve();
  assert.equal(await answer, "done");
  await stopped;
  await assert.rejects(fetch(url)); // the listener is closed
});

Deno.test("serveGuarded() finished rejects when the listening socket fails (injected), and closes its connections", async () => {
  const real = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const failing = Promise.withResolvers<Deno.TcpConn>();
  let first = true;
  const listener = {
    addr: real.addr,
    accept: () => {
      if (first) return (first = false), real.accept();
      return failing.promise;
    },
    close: () => real.close(),
  } as unknown as Deno.Listener<Deno.TcpConn, Deno.NetAddr>;
  const server = serveGuarded(
    { ...LIMITS, listener },
    () => new Response("ok"),
  );
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: real.addr.port,
  });
  failing.reject(new Deno.errors.BadResource("Bad resource ID"));
  await assert.rejects(server.finished, /listener on 127\.0\.0\.1:\d+ died/);
  assert.equal(await conn.read(new Uint8Array(16)), null); // closed by the server
  conn.close();
});
