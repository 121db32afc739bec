/**
 * The listener's cost (issue 16 item 2): requests per second of a trivial handler (`200 ok`) served by
 * `Deno.serve`, by serve's guarded listener (`core/service/http_listener.ts`: connection cap, header and
 * idle deadlines) and by `node:http` with its timeouts set, each in its own process, measured with wrk
 * (`apt-get install wrk`) with keep-alive (how Alertmanager and log shippers send) and with a new
 * connection per request. Rounds alternate between the servers; medians are reported, and each
 * server's ratio against `Deno.serve`.
 *
 * `deno run -A bench/http_bench.ts [--rounds 5] [--seconds 5]`
 *
 * @module
 */
import { serveGuarded } from "../core/service/http_listener.ts";

const KINDS = ["deno-serve", "guarded", "node-http"] as const;
type Kind = typeof KINDS[number];

/** Starts one server on a free port and prints the port on stdout. */
async function runServer(kind: Kind): Promise<void> {
  const hostname = "127.0.0.1";
  const ok = () => new Response("ok");
  const onListen = (addr: Deno.NetAddr) => console.log(addr.port);
  if (kind === "deno-serve") {
    Deno.serve({ hostname, port: 0, onListen }, ok);
  } else if (kind === "guarded") {
    serveGuarded({
      hostname,
      port: 0,
      maxConnections: 512,
      headerTimeoutMs: 10_000,
      idleTimeoutMs: 30_000,
      onListen,
    }, ok);
  } else {
    const http = await import("node:http");
    const server = http.createServer((_req, res) => res.end("ok"));
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    server.keepAliveTimeout = 30_000;
    server.maxConnections = 512;
    server.listen(0, hostname, () => {
      console.log((server.address() as { port: number }).port);
    });
  }
}

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(Deno.args[i + 1]);
}

async function wrk(url: string, seconds: number, close: boolean) {
  const args = ["-t1", "-c32", `-d${seconds}s`, url];
  if (close) args.unshift("-H", "Connection: close");
  const out = await new Deno.Command("wrk", { args, stdout: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
}

async function measure(kind: Kind, seconds: number) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, "--server", kind],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let line = "";
    while (!line.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`${kind} exited before listening`);
      line += value;
    }
    reader.releaseLock();
    child.stdout.cancel().catch(() => {});
    const url = `http://127.0.0.1:${Number(line.trim())}/`;
    await wrk(url, 1, false); // warm-up
    return {
      keepAlive: await wrk(url, seconds, false),
      close: await wrk(url, seconds, true),
    };
  } finally {
    child.kill();
    await child.status;
  }
}

const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[xs.length >> 1]!;

if (Deno.args[0] === "--server") {
  await runServer(Deno.args[1] as Kind);
} else {
  const rounds = arg("rounds", 5);
  const seconds = arg("seconds", 5);
  const runs = new Map<Kind, { keepAlive: number[]; close: number[] }>(
    KINDS.map((k) => [k, { keepAlive: [], close: [] }]),
  );
  for (let round = 0; round < rounds; round++) {
    for (const kind of KINDS) {
      const r = await measure(kind, seconds);
      runs.get(kind)!.keepAlive.push(r.keepAlive);
      runs.get(kind)!.close.push(r.close);
      console.log(
        `round ${round + 1} ${kind}: keep-alive ${
          Math.round(r.keepAlive)
        } req/s, new connection each ${Math.round(r.close)} req/s`,
      );
    }
  }
  const base = runs.get("deno-serve")!;
  for (const [kind, r] of runs) {
    const ka = median(r.keepAlive), cl = median(r.close);
    console.log(
      `${kind}: keep-alive median ${Math.round(ka)} req/s (${
        (100 * ka / median(base.keepAlive)).toFixed(0)
      }% of Deno.serve), new connection each ${Math.round(cl)} req/s (${
        (100 * cl / median(base.close)).toFixed(0)
      }%)`,
    );
  }
}
