/**
 * Action links on several `blitz serve` instances sharing one real PostgreSQL: one link POSTed to two
 * instances at the same moment runs once (the nonce is consumed and the run recorded in one
 * transaction; the loser answers "already done by …"), counted at a loopback receiver; and a step
 * that was running when its instance was killed is shown as "unknown" on the alert page and never
 * run again.
 */
import assert from "node:assert/strict";
import { hasPostgres, startPostgres } from "./_postgres.ts";
import { type ReceivedMail, startSmtpServer } from "./_smtp.ts";
import { startReceiver } from "./_http.ts";
import { instancesProject, TOKEN, until } from "./_instances.ts";
import type { ServeProcess } from "./_serve.ts";

const PUBLIC = "http://blitz.example.test";

/** The button link of a mail, and the token in it. */
function tokenOf(mail: ReceivedMail): string {
  const link = /href="(http:\/\/blitz\.example\.test\/actions\/[^"]+)"/
    .exec(mail.parsed.html || "")?.[1];
  assert.ok(link, "the email has a button link");
  return link.slice(link.lastIndexOf("/") + 1);
}

/** The CSRF field of the confirmation page `server` serves for `token`. */
async function csrfOf(server: ServeProcess, token: string): Promise<string> {
  const res = await fetch(`${server.url}/actions/${token}`);
  const html = await res.text();
  assert.equal(res.status, 200, html);
  const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
  assert.ok(csrf, "the confirmation page has a CSRF field");
  return csrf;
}

function press(
  server: ServeProcess,
  token: string,
  fields: Record<string, string>,
): Promise<{ status: number; html: string }> {
  return fetch(`${server.url}/actions/${token}`, {
    method: "POST",
    body: new URLSearchParams(fields),
  }).then(async (res) => ({ status: res.status, html: await res.text() }));
}

Deno.test({
  name:
    "serve on PostgreSQL: a link POSTed to two instances at once runs once; a step running at a crash shows unknown",
  ignore: !hasPostgres(),
  fn: async (t) => {
    const pg = await startPostgres();
    if (!pg) return;
    const smtp = await startSmtpServer();
    const hung: (() => void)[] = [];
    const receiver = startReceiver(({ path }) =>
      path.startsWith("/hang/")
        ? new Promise<Response>((resolve) =>
          hung.push(() => resolve(new Response("late")))
        )
        : Response.json({ ok: true })
    );
    const running: ServeProcess[] = [];
    /** The alert emails (not the follow-ups a button sends, "Re: …"). */
    const alertMails = () =>
      smtp.messages.filter((m) => /^Alert \d+$/.test(m.parsed.subject ?? ""));
    const { project, start } = await instancesProject({
      url: await pg.freshDatabase(),
      smtp: smtp.url,
      global: {
        public_url: PUBLIC,
        action_rate_limit: "10000/m burst 1000", // one test client presses 40 times
        ui_auth: { trusted_header: "X-Test-User" },
        trusted_proxies: ["127.0.0.1/32"], // the test client plays the sign-in proxy
      },
      detectors: {
        t1: {
          subject: "Alert {n}",
          enrichments: [],
          actions: {
            reply: [["Block {n}", {
              actions: [["http_request", {
                return_name: "block",
                method: "POST",
                url: `${receiver.url}/{path}/{n}`,
                allow_private: true,
              }]],
            }]],
          },
        },
      },
    });
    try {
      const [a, b] = [await start(), await start()];
      running.push(a, b);

      await t.step(
        "20 links, each POSTed to two instances at once: one run each, the loser sees who did it",
        async () => {
          for (let n = 0; n < 20; n++) {
            const res = await fetch(`${a.url}/ingest/t1`, {
              method: "POST",
              headers: {
                authorization: `Bearer ${TOKEN}`,
                "content-type": "application/json",
              },
              body: JSON.stringify({ n, path: "block" }),
            });
            assert.equal(res.status, 202, await res.text());
          }
          await until(() => alertMails().length >= 20, "20 alert emails");
          for (const mail of alertMails()) {
            const token = tokenOf(mail);
            const csrf = await csrfOf(a, token);
            const [first, second] = await Promise.all([
              press(a, token, { csrf, actor: "Alice" }),
              press(b, token, { csrf, actor: "Bob" }),
            ]);
            const pages = [first, second].sort((x, y) => x.status - y.status);
            assert.deepEqual(pages.map((p) => p.status), [200, 409]);
            // The loser names the winner: "already done by" (or "being run by" while it runs).
            assert.match(
              pages[1]!.html,
              /(already done|being run) by (Alice|Bob)/,
            );
          }
          const hits = receiver.requests.filter((r) =>
            r.path.startsWith("/block/")
          );
          assert.equal(hits.length, 20, "each button ran exactly once");
          assert.equal(new Set(hits.map((r) => r.path)).size, 20);
        },
      );

      await t.step(
        "a step running when its instance is killed shows unknown on another instance and is not run again",
        async () => {
          const res = await fetch(`${a.url}/ingest/t1`, {
            method: "POST",
            headers: {
              authorization: `Bearer ${TOKEN}`,
              "content-type": "application/json",
            },
            body: JSON.stringify({ n: 7, path: "hang" }),
          });
          const { ids: [id] } = await res.json();
          const mine = () =>
            smtp.messages.find((m) =>
              m.parsed.headers.get("x-blitz-alert-id") === id &&
              !m.parsed.subject?.startsWith("Re:")
            );
          await until(() => mine() !== undefined, "the alert email");
          const mail = mine()!;
          const token = tokenOf(mail);
          const csrf = await csrfOf(a, token);
          const pressed = press(a, token, { csrf, actor: "Carol" }).catch(() =>
            undefined
          );
          await until(
            () => receiver.requests.some((r) => r.path === "/hang/7"),
            "the step reached the receiver",
          );
          await a.stop("SIGKILL");
          await pressed;
          // Shown as running while its instance may still be alive, as unknown once it has been
          // silent for 30 s (its heartbeat stopped).
          let html = "";
          await until(
            async () => {
              const page = await fetch(`${b.url}/alerts/${id}`, {
                headers: { "X-Test-User": "dave" },
              });
              html = await page.text();
              assert.equal(page.status, 200, html);
              return /badge unknown/.test(html);
            },
            "the run shown as unknown",
            90_000,
          );
          assert.match(html, /Carol/);
          const again = await press(b, token, { csrf, actor: "Erin" });
          assert.equal(again.status, 409);
          assert.equal(
            receiver.requests.filter((r) => r.path === "/hang/7").length,
            1,
            "never re-run",
          );
        },
      );
    } finally {
      for (const server of running) {
        await server.stop("SIGKILL").catch(() => {});
      }
      for (const resolve of hung) resolve();
      await receiver.close();
      await smtp.close();
      await pg.stop();
      await project.cleanup();
    }
  },
});
