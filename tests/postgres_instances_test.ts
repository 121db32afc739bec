/**
 * Several `blitz serve` instances on one real PostgreSQL (a throwaway server, `tests/_postgres.ts`),
 * mailing to a real SMTP server on loopback: any instance accepts any alert, each alert is mailed
 * once, and an instance killed with SIGKILL loses nothing that got a 202.
 */
import assert from "node:assert/strict";
import { hasPostgres, startPostgres } from "./_postgres.ts";
import { startSmtpServer, type TestSmtpServer } from "./_smtp.ts";
import { burst, instancesProject, until } from "./_instances.ts";
import type { ServeProcess } from "./_serve.ts";

/** Each alert number's Message-IDs, from the subjects "Alert <n>". */
function mailsByAlert(smtp: TestSmtpServer): Map<number, string[]> {
  const byAlert = new Map<number, string[]>();
  for (const mail of smtp.messages) {
    const n = Number(/^Alert (\d+)$/.exec(mail.parsed.subject ?? "")?.[1]);
    byAlert.set(n, [...byAlert.get(n) ?? [], mail.parsed.messageId ?? ""]);
  }
  return byAlert;
}

Deno.test({
  name:
    "serve on PostgreSQL: three instances, alerts round-robin, each mailed once; kill -9 loses nothing",
  ignore: !hasPostgres(),
  fn: async (t) => {
    const pg = await startPostgres();
    if (!pg) return;
    const smtp = await startSmtpServer();
    const running: ServeProcess[] = [];
    try {
      await t.step(
        "1,000 alerts round-robin over three instances: every one mailed exactly once",
        async () => {
          smtp.messages.length = 0;
          const { project, start } = await instancesProject({
            url: await pg.freshDatabase(),
            smtp: smtp.url,
          });
          try {
            const servers = await Promise.all([start(), start(), start()]);
            running.push(...servers);
            const accepted = await burst(() => servers, { count: 1_000 });
            assert.equal(accepted.size, 1_000);
            await smtp.waitFor(1_000, 180_000);
            // Let anything extra arrive before counting (a double send would come right after).
            await until(async () => {
              const health = await Promise.all(
                servers.map((s) =>
                  fetch(`${s.url}/healthz`).then((r) => r.json())
                ),
              );
              return health.every((h) => h.backlog === 0 && h.busy === 0);
            }, "every backlog drained");
            const byAlert = mailsByAlert(smtp);
            assert.equal(byAlert.size, 1_000);
            assert.deepEqual(
              [...byAlert].filter(([, ids]) => ids.length !== 1),
              [],
              "no alert mailed twice",
            );
            // All three took part.
            const accepting = servers.map((s) =>
              s.logs.filter((l) => l.event === "accepted").length
            );
            assert.ok(
              accepting.every((n) => n > 0),
              `accepted per instance: ${accepting}`,
            );
            for (const s of servers.splice(0)) await s.stop();
          } finally {
            await project.cleanup();
          }
        },
      );

      await t.step(
        "kill -9 of one instance mid-burst: every 202'd alert is mailed, duplicates only with the same Message-ID",
        async () => {
          smtp.messages.length = 0;
          const { project, start } = await instancesProject({
            url: await pg.freshDatabase(),
            smtp: smtp.url,
          });
          try {
            const servers = await Promise.all([start(), start(), start()]);
            running.push(...servers);
            const victim = servers[1]!;
            let alive: ServeProcess[] = servers;
            const statuses = new Map<number, number>();
            const accepted = await burst(() => alive, {
              count: 1_000,
              statuses,
              onPosted: async (posted) => {
                if (posted !== 400) return;
                // Senders stop choosing the victim before the kill (not after its exit, which takes
                // longer on a loaded machine): only requests already in flight on it can fail.
                alive = [servers[0]!, servers[2]!];
                await victim.stop("SIGKILL");
              },
            });
            // Only requests in flight on the victim when it died may fail: at most one per sender
            // (16), however long the kill takes on a loaded machine.
            assert.ok(
              accepted.size >= 1_000 - 16,
              `accepted ${accepted.size}: ${[...statuses]}`,
            );
            await until(
              () => [...accepted].every((n) => mailsByAlert(smtp).has(n)),
              () => {
                const byAlert = mailsByAlert(smtp);
                return `every 202'd alert mailed (missing ${
                  [...accepted].filter((n) => !byAlert.has(n)).length
                })`;
              },
              180_000,
            );
            const byAlert = mailsByAlert(smtp);
            const twice = [...byAlert].filter(([, ids]) => ids.length > 1);
            for (const [n, ids] of twice) {
              assert.equal(
                new Set(ids).size,
                1,
                `alert ${n} mailed with different Message-IDs: ${ids}`,
              );
            }
            // Only what was in flight on the killed instance: at most its workers' claims.
            assert.ok(twice.length <= 4, `mailed twice: ${twice.length}`);
            const survivors = [servers[0]!, servers[2]!];
            // Whether the victim held a lease at the instant of the kill depends on timing; when it
            // did (an alert it mailed but never recorded is mailed again), a survivor must have
            // taken the lease over. Every 202'd alert being mailed, above, is the promise itself.
            if (twice.length > 0) {
              assert.ok(
                survivors.some((s) =>
                  s.logs.some((l) => l.event === "requeued")
                ),
                "a survivor took over the killed instance's leases",
              );
            }
            for (const s of survivors) await s.stop();
          } finally {
            await project.cleanup();
          }
        },
      );
    } finally {
      for (const server of running) {
        await server.stop("SIGKILL").catch(() => {});
      }
      await smtp.close();
      await pg.stop();
    }
  },
});
