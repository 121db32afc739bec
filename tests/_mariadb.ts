/**
 * A throwaway MariaDB server for tests: temp data dir, loopback, random port.
 *
 * Returns `undefined` when no `mariadbd`/`mysqld` binary is installed, so the caller can skip,
 * unless `BLITZ_REQUIRE_MYSQL=1`, in which case a missing server is an error.
 *
 * @module
 */
import mysql from "mysql2/promise";

/** A running throwaway server. */
export interface MariaDb {
  /** `mysql://root@127.0.0.1:PORT/blitz_test` */
  url: string;
  port: number;
  /** Runs one statement as root on `blitz_test`. */
  query(sql: string): Promise<void>;
  /** Kills the server and removes its data dir. */
  stop(): Promise<void>;
}

const SEARCH_DIRS = ["/usr/sbin", "/usr/local/sbin", "/usr/libexec"];

/** Whether a MariaDB server binary is installed (for `ignore:`); true under BLITZ_REQUIRE_MYSQL=1 so tests fail loudly. */
export function hasMariaDb(): boolean {
  if (Deno.env.get("BLITZ_REQUIRE_MYSQL") === "1") return true;
  return findBinarySync(["mariadbd", "mysqld"]) !== undefined;
}

/** Starts a throwaway MariaDB server, or returns undefined when none is installed (unless required). */
export async function startMariaDb(): Promise<MariaDb | undefined> {
  const server = findBinarySync(["mariadbd", "mysqld"]);
  const installer = findBinarySync(["mariadb-install-db", "mysql_install_db"]);
  if (!server || !installer) {
    if (Deno.env.get("BLITZ_REQUIRE_MYSQL") === "1") {
      throw new Error(
        "BLITZ_REQUIRE_MYSQL=1 but no mariadbd/mysqld and mariadb-install-db on PATH",
      );
    }
    return undefined;
  }
  const dir = await Deno.makeTempDir({ prefix: "blitz_mariadb_" });
  let child: Deno.ChildProcess | undefined;
  try {
    const init = await new Deno.Command(installer, {
      args: [
        "--no-defaults",
        `--datadir=${dir}/data`,
        "--user=root",
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!init.success) {
      throw new Error(
        `mariadb-install-db failed: ${
          new TextDecoder().decode(init.stderr).slice(-2000)
        }`,
      );
    }
    const port = freePort();
    child = new Deno.Command(server, {
      args: [
        "--no-defaults",
        `--datadir=${dir}/data`,
        `--port=${port}`,
        "--bind-address=127.0.0.1",
        `--socket=${dir}/s.sock`,
        `--pid-file=${dir}/mariadb.pid`,
        `--log-error=${dir}/error.log`,
        "--user=root",
        "--skip-log-bin",
        "--skip-name-resolve",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const admin = await connectWhenReady(`${dir}/s.sock`, child, dir);
    try {
      // With --skip-name-resolve, root@localhost only matches the socket: let root in over TCP too.
      await admin.query("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'");
      await admin.query(
        "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION",
      );
      await admin.query("CREATE DATABASE IF NOT EXISTS blitz_test");
    } finally {
      await admin.end();
    }
    const running = child;
    const url = `mysql://root@127.0.0.1:${port}/blitz_test`;
    return {
      url,
      port,
      async query(sql) {
        const conn = await mysql.createConnection({ uri: url });
        try {
          await conn.query(sql);
        } finally {
          await conn.end();
        }
      },
      async stop() {
        await killAndWait(running);
        await Deno.remove(dir, { recursive: true });
      },
    };
  } catch (err) {
    if (child) await killAndWait(child);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  }
}

function findBinarySync(names: string[]): string | undefined {
  const path = (Deno.env.get("PATH") ?? "").split(":").filter(Boolean);
  for (const name of names) {
    for (const dir of [...path, ...SEARCH_DIRS]) {
      const file = `${dir}/${name}`;
      try {
        const info = Deno.statSync(file);
        if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return file;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function connectWhenReady(
  socketPath: string,
  child: Deno.ChildProcess,
  dir: string,
) {
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const deadline = Date.now() + 30_000;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (exited) {
      const log = await Deno.readTextFile(`${dir}/error.log`).catch(() => "");
      throw new Error(
        `mariadbd exited with code ${(await status).code}: ${log.slice(-2000)}`,
      );
    }
    try {
      return await mysql.createConnection({
        socketPath,
        user: "root",
        connectTimeout: 1_000,
      });
    } catch (err) {
      lastError = err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error("mariadbd did not accept connections within 30 s", {
    cause: lastError,
  });
}

async function killAndWait(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGKILL");
  } catch {
    // already gone
  }
  await child.status;
}
