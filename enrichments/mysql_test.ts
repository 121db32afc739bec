import assert from "node:assert/strict";
import mysql from "mysql2/promise";
import type { PluginContext } from "../core/plugin.ts";
import { hasMariaDb, startMariaDb } from "../tests/_mariadb.ts";
import { pluginContext } from "../tests/_plugin.ts";
import plugin, {
  closeMysqlPools,
  type MysqlParams,
  mysqlPoolCount,
  type MysqlResult,
} from "./mysql.ts";

async function run(
  eArgs: Record<string, unknown>,
  ctx: PluginContext,
): Promise<MysqlResult> {
  const params: MysqlParams = plugin.params!.parse(eArgs);
  return await plugin.run(params, ctx) as MysqlResult;
}

Deno.test("mysql run() needs e_args.query", async () => {
  await assert.rejects(
    run(
      { database: "app" },
      pluginContext({
        settings: { databases: { app: "mysql://root@127.0.0.1:1/x" } },
      }),
    ),
    { name: "TypeError", message: "mysql needs e_args.query" },
  );
});

Deno.test("mysql run() names the configured databases for an unknown one", async () => {
  await assert.rejects(
    run(
      { database: "nope", query: "SELECT 1" },
      pluginContext({
        settings: { databases: { app: "mysql://root:hunter22@127.0.0.1:1/x" } },
      }),
    ),
    {
      name: "RangeError",
      message: 'Unknown database "nope": configured "app"',
    },
  );
});

Deno.test({
  name: "mysql run() against a real MariaDB",
  ignore: !hasMariaDb(),
  async fn(t) {
    const db = await startMariaDb();
    assert.ok(db, "mariadbd is installed but startMariaDb() returned nothing");
    const admin = await mysql.createConnection({ uri: db.url });
    const settings = { databases: { app: db.url } };
    try {
      await db.query(
        "CREATE TABLE hosts (ip VARCHAR(64) NOT NULL, owner VARCHAR(64) NOT NULL, seen INT NOT NULL)",
      );
      await db.query(
        "INSERT INTO hosts VALUES ('10.0.0.5','alice',3),('10.0.0.5','bob',1),('10.0.0.6','carol',9),('x'' OR ''1''=''1','literal',0)",
      );

      await t.step(
        "binds ? params from alert keys and dotted paths",
        async () => {
          const result = await run(
            {
              database: "app",
              query:
                "SELECT owner, seen FROM hosts WHERE ip = ? AND seen >= ? ORDER BY owner",
              params: ["ip_src_addr", "source.min_seen"],
            },
            pluginContext({
              alert: { ip_src_addr: "10.0.0.5", source: { min_seen: 1 } },
              settings,
            }),
          );
          assert.deepEqual(result, {
            rows: [{ owner: "alice", seen: 3 }, { owner: "bob", seen: 1 }],
            row_count: 2,
            truncated: false,
          });
        },
      );

      await t.step(
        "binds e_key values in order when e_args.params is absent",
        async () => {
          const result = await run(
            { query: "SELECT owner FROM hosts WHERE ip = ? ORDER BY owner" },
            pluginContext({ args: ["10.0.0.6"], settings }),
          );
          assert.deepEqual(result.rows, [{ owner: "carol" }]);
        },
      );

      await t.step("treats an injection attempt as data", async () => {
        const query = {
          database: "app",
          query: "SELECT owner FROM hosts WHERE ip = ?",
          params: ["ip"],
        };
        const injected = await run(
          query,
          pluginContext({ alert: { ip: "1' OR '1'='1" }, settings }),
        );
        assert.deepEqual(injected, {
          rows: [],
          row_count: 0,
          truncated: false,
        });
        const literal = await run(
          query,
          pluginContext({ alert: { ip: "x' OR '1'='1" }, settings }),
        );
        assert.deepEqual(literal.rows, [{ owner: "literal" }]);
      });

      await t.step("caps rows at max_rows and says so", async () => {
        const result = await run(
          {
            database: "app",
            query: "SELECT owner FROM hosts ORDER BY owner",
            max_rows: 2,
          },
          pluginContext({ settings }),
        );
        assert.deepEqual(result, {
          rows: [{ owner: "alice" }, { owner: "bob" }],
          row_count: 4,
          truncated: true,
        });
      });

      await t.step("runs statements read-only", async () => {
        await assert.rejects(
          run({
            database: "app",
            query: "DELETE FROM hosts WHERE ip = ?",
            params: ["ip"],
          }, pluginContext({ alert: { ip: "10.0.0.6" }, settings })),
          { message: /^Cannot query database "app": .*READ ONLY/ },
        );
        const count = await run({
          database: "app",
          query: "SELECT COUNT(*) AS n FROM hosts",
        }, pluginContext({ settings }));
        assert.deepEqual(count.rows, [{ n: 4 }]);
      });

      await t.step(
        "fails clearly when the alert lacks a param key",
        async () => {
          await assert.rejects(
            run(
              { database: "app", query: "SELECT ?", params: ["missing.key"] },
              pluginContext({ alert: {}, settings }),
            ),
            { message: 'Alert has no value for "missing.key" (param 1)' },
          );
        },
      );

      await t.step(
        "reuses one pool and its connection across calls",
        async () => {
          await closeMysqlPools();
          const query = {
            database: "app",
            query: "SELECT CONNECTION_ID() AS id",
          };
          const first = await run(query, pluginContext({ settings }));
          const second = await run(query, pluginContext({ settings }));
          assert.equal(mysqlPoolCount(), 1);
          assert.equal(typeof first.rows[0]?.id, "number");
          assert.deepEqual(second.rows, first.rows);
        },
      );

      await t.step("stops a query that runs past timeout_ms", async () => {
        await assert.rejects(
          run({
            database: "app",
            query: "SELECT SLEEP(5) AS s",
            timeout_ms: 300,
          }, pluginContext({ settings })),
          {
            message:
              'Cannot query database "app": query timed out after 300 ms',
          },
        );
        const after = await run(
          { database: "app", query: "SELECT 1 AS one" },
          pluginContext({ settings }),
        );
        assert.deepEqual(after.rows, [{ one: 1 }]);
      });

      await t.step("stops a running query when the signal aborts", async () => {
        const controller = new AbortController();
        const reason = new Error("deadline passed");
        const pending = run(
          {
            database: "app",
            query: "SELECT SLEEP(20) AS marker_abort_test",
            timeout_ms: 60_000,
          },
          pluginContext({ settings, signal: controller.signal }),
        );
        let settled = false;
        pending.then(() => settled = true, () => settled = true);
        // Abort once the server really runs the statement.
        while (!settled) {
          const [rows] = await admin.query(
            "SELECT COUNT(*) AS n FROM information_schema.processlist WHERE info LIKE '%marker_abort_test%' AND info NOT LIKE '%processlist%'",
          );
          if ((rows as { n: number }[])[0]!.n > 0) break;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        controller.abort(reason);
        await assert.rejects(pending, (err) => err === reason);
      });

      await t.step(
        "keeps the password out of a failed login's error",
        async () => {
          await db.query(
            "CREATE USER 'blitz'@'127.0.0.1' IDENTIFIED BY 'Right-Pass-1'",
          );
          await db.query("GRANT SELECT ON blitz_test.* TO 'blitz'@'127.0.0.1'");
          const at = `127.0.0.1:${db.port}/blitz_test`;
          const wrong = {
            databases: { app: `mysql://blitz:Wr%40ng-Pass-99@${at}` },
          };
          const error = await run(
            { database: "app", query: "SELECT 1" },
            pluginContext({ settings: wrong }),
          ).then(
            () => assert.fail("login with a wrong password succeeded"),
            (err: Error) => err,
          );
          assert.match(
            error.message,
            /^Cannot query database "app": Access denied for user 'blitz'/,
          );
          assert.doesNotMatch(
            error.message,
            /Wr@ng-Pass-99|Wr%40ng-Pass-99|mysql:\/\//,
          );
          const right = {
            databases: { app: `mysql://blitz:Right-Pass-1@${at}` },
          };
          const ok = await run({
            database: "app",
            query: "SELECT COUNT(*) AS n FROM hosts",
          }, pluginContext({ settings: right }));
          assert.deepEqual(ok.rows, [{ n: 4 }]);
        },
      );
    } finally {
      await admin.end();
      await closeMysqlPools();
      await db.stop();
    }
  },
});
