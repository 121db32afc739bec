/**
 * A throwaway PostgreSQL server for tests, from Debian's `postgresql` package: `initdb` as the
 * `postgres` user into a temp dir, `pg_ctl` on a random loopback port with `fsync=on`. One server per
 * test file (`startPostgres()` in the file, `stop()` at its end); `freshDatabase()` gives each test its
 * own empty database on it. `stopServer()`/`startServer()` take it away and bring it back (outage
 * tests).
 *
 * Returns `undefined` when no PostgreSQL is installed, so the caller can skip, unless
 * `BLITZ_REQUIRE_POSTGRES=1`, in which case a missing server is an error.
 *
 * @module
 */
import postgres from "postgres";

/** A running throwaway server. */
export interface Postgres {
  /** `postgres://blitz@127.0.0.1:PORT/postgres` (the maintenance database) */
  url: string;
  port: number;
  /** A new empty database on the server; its URL. */
  freshDatabase(): Promise<string>;
  /** Runs one statement on the maintenance database. */
  query(sql: string): Promise<Record<string, unknown>[]>;
  /** Stops the server (fast shutdown), keeping its data. */
  stopServer(): Promise<void>;
  /** Starts it again on the same port. */
  startServer(): Promise<void>;
  /** Stops the server and removes its data dir. */
  stop(): Promise<void>;
}

const VERSIONS = ["17", "16", "15", "14", "13"];

/** The `bin` folder of the newest installed PostgreSQL, if any. */
function binDir(): string | undefined {
  for (const version of VERSIONS) {
    const dir = `/usr/lib/postgresql/${version}/bin`;
    try {
      if (Deno.statSync(`${dir}/initdb`).isFile) return dir;
    } catch {
      // not this version
    }
  }
  return undefined;
}

function required(): boolean {
  return Deno.env.get("BLITZ_REQUIRE_POSTGRES") === "1";
}

/** Whether PostgreSQL is installed (for `ignore:`); true under BLITZ_REQUIRE_POSTGRES=1 so tests fail loudly. */
export function hasPostgres(): boolean {
  return required() || binDir() !== undefined;
}

/** Starts a throwaway server, or returns undefined when none is installed (unless required). */
export async function startPostgres(): Promise<Postgres | undefined> {
  const bin = binDir();
  if (!bin) {
    if (required()) {
      throw new Error(
        "BLITZ_REQUIRE_POSTGRES=1 but no /usr/lib/postgresql/*/bin/initdb (apt-get install postgresql)",
      );
    }
    return undefined;
  }
  const dir = await Deno.makeTempDir({ prefix: "blitz_pg_" });
  const asRoot = Deno.uid() === 0;
  if (asRoot) await run("chown", ["postgres", dir]);
  const as = (cmd: string, args: string[]) =>
    asRoot
      ? run("runuser", ["-u", "postgres", "--", `${bin}/${cmd}`, ...args])
      : run(`${bin}/${cmd}`, args);
  // A port free a moment ago may be taken (another test's bind to port 0) before the server binds
  // it: the first start then tries another port (below).
  let port = freePort();
  const ctl = (args: string[]) => as("pg_ctl", ["-D", `${dir}/d`, ...args]);
  const start = () =>
    ctl([
      "-o",
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c max_connections=200`,
      "-l",
      `${dir}/log`,
      "-w",
      "-t",
      "60",
      "start",
    ]);
  let running = false;
  try {
    await as("initdb", [
      "-D",
      `${dir}/d`,
      "-A",
      "trust",
      "-U",
      "blitz",
      "--no-sync",
    ]);
    for (let attempt = 1;; attempt++) {
      try {
        await start();
        break;
      } catch (err) {
        const log = await Deno.readTextFile(`${dir}/log`).catch(() => "");
        if (attempt >= 3 || !/Address already in use/.test(log)) throw err;
        port = freePort();
      }
    }
    running = true;
  } catch (err) {
    const log = await Deno.readTextFile(`${dir}/log`).catch(() => "");
    if (running) await ctl(["-m", "immediate", "stop"]).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw new Error(`PostgreSQL did not start: ${log.slice(-2000)}`, {
      cause: err,
    });
  }
  const url = `postgres://blitz@127.0.0.1:${port}/postgres`;
  let databases = 0;
  const query = async (sql: string) => {
    const client = postgres(url, { max: 1, onnotice: () => {} });
    try {
      return [...await client.unsafe(sql)] as Record<string, unknown>[];
    } finally {
      await client.end({ timeout: 5 });
    }
  };
  return {
    url,
    port,
    query,
    async freshDatabase() {
      const name = `blitz_${++databases}`;
      await query(`CREATE DATABASE ${name}`);
      return `postgres://blitz@127.0.0.1:${port}/${name}`;
    },
    async stopServer() {
      await ctl(["-m", "fast", "-w", "-t", "60", "stop"]);
      running = false;
    },
    async startServer() {
      await start();
      running = true;
    },
    async stop() {
      if (running) await ctl(["-m", "immediate", "-w", "stop"]).catch(() => {});
      running = false;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

async function run(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { LC_ALL: "C" },
  }).output();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed: ${
        new TextDecoder().decode(out.stderr).slice(-2000)
      }`,
    );
  }
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}
