/**
 * PostgreSQL going away under `blitz serve`: two instances on one throwaway server, a burst of
 * alerts, the server stopped for 20 s in the middle and started again. While it is down ingest
 * answers 503 with `Retry-After` (never a 202 without a commit) and `/healthz` says why; afterwards
 * everything resumes by itself and every alert that got a 202 is mailed (a second copy only with the
 * same Message-ID, for an outcome the outage kept from being recorded).
 */
import assert from "node:assert/strict";
import { hasPostgres, startPostgres } from "./_postgres.ts";
import { startSmtpServer } from "./_smtp.ts";
import { instancesProject, postAlert, until } from "./_instances.ts";
import type { ServeProcess } from "./_serve.ts";

Deno.test({
  name:
    "serve on PostgreSQL: the database stopped for 20 s mid-burst gives 503s, then every 202'd alert is mailed",
  ignore: !hasPostgres(),
  fn: async () => {
    const pg = await startPostgres();
    if (!pg) return;
    const smtp = await startSmtpServer();
    const servers: ServeProcess[] = [];
    const { project, start } = await instancesProject({
      url: await pg.freshDatabase(),
      smtp: smtp.url,
    });
    try {
      servers.push(await start(), await start());
      const accepted = new Set<number>();
      const statuses = new Map<number, number>();
      const retryAfter = new Set<string | null>();
      let next = 0;
      let phase: "before" | "down" | "after" = "before";
      const downStatuses = new Map<number, number>();
      const sender = async (until: () => boolean) => {
        while (!until()) {
          const n = next++;
          // Counted by when the request was sent: one in flight when the server stopped may
          // still have committed before it went.
          const sentWhile = phase;
          const { status, retryAfter: after } = await postAlert(
            servers[n % servers.length]!,
            n,
          );
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          if (sentWhile === "down" && phase === "down") {
            downStatuses.set(status, (downStatuses.get(status) ?? 0) + 1);
          }
          if (status === 202) accepted.add(n);
          if (status === 503) retryAfter.add(after);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      };
      let stop = false;
      const senders = Promise.all(
        Array.from({ length: 4 }, () => sender(() => stop)),
      );
      await until(() => accepted.size >= 100, "100 alerts accepted");
      await pg.stopServer();
      phase = "down";
      const downAt = Date.now();
      // While it is down: 503 with Retry-After, and /healthz says why.
      await until(
        () => (downStatuses.get(503) ?? 0) >= 10,
        "503s while the database is down",
      );
      const health = await fetch(`${servers[0]!.url}/healthz`);
      const body = await health.json();
      assert.equal(health.status, 503);
      assert.equal(body.store, "unwritable");
      assert.match(String(body.reason), /PostgreSQL .* unreachable/);
      assert.doesNotMatch(JSON.stringify(body), /password/);
      const elapsed = Date.now() - downAt;
      if (elapsed < 20_000) {
        await new Promise((resolve) => setTimeout(resolve, 20_000 - elapsed));
      }
      // From here an insert may wait for the server coming up and commit: no longer "down".
      phase = "after";
      await pg.startServer();
      await until(
        async () => {
          const res = await fetch(`${servers[1]!.url}/healthz`);
          await res.body?.cancel();
          return res.status === 200;
        },
        "/healthz ready again",
      );
      const before = accepted.size;
      await until(() => accepted.size >= before + 100, "ingest accepted again");
      stop = true;
      await senders;
      // Nothing but 202 and 503 (no 500, no connection refused from Blitz).
      assert.deepEqual(
        [...statuses.keys()].filter((s) => s !== 202 && s !== 503),
        [],
        `statuses: ${[...statuses]}`,
      );
      assert.ok(
        (downStatuses.get(202) ?? 0) === 0,
        `202 while down: ${[...downStatuses]}`,
      );
      assert.deepEqual([...retryAfter], ["5"]);
      const mailed = () => {
        const byAlert = new Map<number, Set<string>>();
        for (const mail of smtp.messages) {
          const n = Number(
            /^Alert (\d+)$/.exec(mail.parsed.subject ?? "")?.[1],
          );
          const ids = byAlert.get(n) ?? new Set();
          ids.add(mail.parsed.messageId ?? "");
          byAlert.set(n, ids);
        }
        return byAlert;
      };
      await until(
        () => [...accepted].every((n) => mailed().has(n)),
        () =>
          `every 202'd alert mailed (missing ${
            [...accepted].filter((n) => !mailed().has(n)).length
          } of ${accepted.size})`,
        180_000,
      );
      for (const [n, ids] of mailed()) {
        assert.equal(
          ids.size,
          1,
          `alert ${n} mailed with different Message-IDs`,
        );
      }
    } catch (err) {
      // A serve that died says why only on its stderr: put each one's tail on the failure.
      const tails = servers.map((server, i) =>
        `--- serve ${i} stderr (tail) ---\n${server.stderr().slice(-4000)}`
      );
      throw new Error(`${err}\n${tails.join("\n")}`, { cause: err });
    } finally {
      for (const server of servers) {
        await server.stop("SIGKILL").catch(() => {});
      }
      await smtp.close();
      await pg.stop();
      await project.cleanup();
    }
  },
});
