/**
 * Storm control across several `blitz serve` instances on one real PostgreSQL: a storm over one
 * fingerprint posted round-robin to three instances gives one email and, when the window ends, one
 * digest whose count is exact (each decision is one transaction under the fingerprint's advisory
 * lock; the window's timer is claimed by one instance).
 */
import assert from "node:assert/strict";
import { hasPostgres, startPostgres } from "./_postgres.ts";
import { startSmtpServer } from "./_smtp.ts";
import { instancesProject, TOKEN, until } from "./_instances.ts";
import type { ServeProcess } from "./_serve.ts";
import { openPostgresStore } from "../core/store/postgres/postgres.ts";

const STORM = 60;

Deno.test({
  name:
    "serve on PostgreSQL: a storm over one fingerprint across three instances gives one email and one exact digest",
  ignore: !hasPostgres(),
  fn: async () => {
    const pg = await startPostgres();
    if (!pg) return;
    const smtp = await startSmtpServer();
    const servers: ServeProcess[] = [];
    const url = await pg.freshDatabase();
    const { project, start } = await instancesProject({
      url,
      smtp: smtp.url,
      detectors: {
        ids: {
          subject: "IDS {signature} from {src_ip}",
          enrichments: [],
          storm: { fingerprint: ["src_ip"], realert: "20s" },
        },
      },
    });
    try {
      servers.push(await start(), await start(), await start());
      // All at once, 12 senders over the three instances: the decisions race on one fingerprint.
      let next = 0;
      const statuses: number[] = [];
      await Promise.all(Array.from({ length: 12 }, async () => {
        while (next < STORM) {
          const n = next++;
          const res = await fetch(`${servers[n % 3]!.url}/ingest/ids`, {
            method: "POST",
            headers: {
              authorization: `Bearer ${TOKEN}`,
              "content-type": "application/json",
            },
            body: JSON.stringify({
              signature: "ET SCAN",
              src_ip: "203.0.113.7",
              n,
            }),
          });
          await res.body?.cancel();
          statuses.push(res.status);
        }
      }));
      assert.deepEqual([...new Set(statuses)], [202]);
      // One email, then (after the 20 s window) one digest of the others, counted exactly.
      await until(
        () => smtp.messages.length >= 2,
        "the email and the digest",
        90_000,
      );
      const [mail, digest] = smtp.messages;
      assert.equal(mail!.parsed.subject, "IDS ET SCAN from 203.0.113.7");
      assert.match(
        digest!.parsed.subject ?? "",
        new RegExp(`^ids: ${STORM - 1} more like `),
      );
      assert.match(
        digest!.parsed.text ?? "",
        new RegExp(`Suppressed: ${STORM - 1}\\n`),
      );
      assert.equal(digest!.parsed.inReplyTo, mail!.parsed.messageId);
      // What the database decided: one window of 60 with the email's alert, 59 suppressed under it
      // (one count each), and the window's timer done once (claimed by one instance).
      const store = await openPostgresStore(url);
      try {
        const [window, ...others] = await store.storm.windows();
        assert.equal(others.length, 0);
        assert.equal(window!.total, STORM);
        assert.equal(
          window!.notified_id,
          mail!.parsed.headers.get("x-blitz-alert-id"),
        );
        assert.deepEqual(
          await store.storm.suppressedCounts({
            notified_id: window!.notified_id!,
          }),
          { realert: STORM - 1 },
        );
        const [timers] = await store.sql.unsafe(
          "SELECT count(*) AS n, count(*) FILTER (WHERE done_at IS NOT NULL) AS done FROM storm_timers",
        );
        assert.deepEqual([Number(timers!.n), Number(timers!.done)], [1, 1]);
      } finally {
        await store.close();
      }
      assert.equal(
        smtp.messages.length,
        2,
        smtp.messages.map((m) => m.parsed.subject).join("\n"),
      );
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
