/**
 * `deno task redeliver` and the alert page's Redeliver button (issue 16): alerts whose email and
 * webhook delivery failed for good (a real loopback SMTP server that refuses the first attempts, a
 * loopback receiver that answers 500) go back in the queue and `serve` delivers them once, with the
 * same Message-ID, also when two commands (or two clicks) redeliver at once; each redelivery is
 * audited with who and when.
 *
 * @module
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { writeProject } from "./_config.ts";
import { ingestRequest } from "./_ingest.ts";
import { startServe } from "./_serve.ts";
import { startSmtpServer } from "./_smtp.ts";
import { runTask, shown } from "./_task.ts";

const TOKEN = `ingest-${crypto.randomUUID()}`;
const HOOK_SECRET = `whsec_${btoa(crypto.randomUUID())}`;
const UI_PASSWORD = `pw-${crypto.randomUUID()}`;

/** A loopback webhook receiver that answers 500 until `open()`, then 200; counts what it accepted. */
function startReceiver() {
  let open = false;
  const accepted: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const body = await req.text();
      if (!open) return new Response("down", { status: 500 });
      accepted.push(body);
      return new Response("ok");
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    accepted,
    open: () => (open = true),
    close: () => server.shutdown(),
  };
}

/** The alert's row and its channel delivery, read from the store file. */
function stored(dataDir: string, id: string) {
  const db = new DatabaseSync(`${dataDir}/blitz.db`, { readOnly: true });
  try {
    const alert = db.prepare(
      "SELECT status, attempts, message_id FROM alerts WHERE id = ?",
    ).get(id) as { status: string; attempts: number; message_id: string };
    const hook = db.prepare(
      "SELECT status, attempts FROM channel_deliveries WHERE alert_id = ?",
    ).get(id) as { status: string; attempts: number };
    const audit = db.prepare(
      "SELECT actor, source, email, channels FROM redeliveries WHERE alert_id = ?",
    ).all(id) as {
      actor: string;
      source: string;
      email: number;
      channels: string;
    }[];
    return { alert, hook, audit };
  } finally {
    db.close();
  }
}

/** Waits (bounded) until the store shows the alert's email and webhook in `status`. */
async function until(
  dataDir: string,
  id: string,
  status: string,
): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { alert, hook } = stored(dataDir, id);
    if (alert?.status === status && hook?.status === status) return;
    if (Date.now() > deadline) {
      throw new Error(
        `Timed out waiting for ${id} to be ${status}: ${
          JSON.stringify({ alert, hook })
        }`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

Deno.test("redeliver: failed email and webhook go out again once, from the CLI (twice at once) and the alert page's button, audited", async (t) => {
  // Two alerts, two attempts each: the first four messages are refused, every later one accepted.
  const smtp = await startSmtpServer({ failFirst: 4 });
  const receiver = startReceiver();
  const project = await writeProject({
    global: {
      listen: "127.0.0.1:0",
      ingest_tokens: ["${env:BLITZ_INGEST_TOKEN}"],
      smtp: `${smtp.url}?ignore_tls=1`,
      delivery: { max_attempts: 2, backoff: "100ms", max_backoff: "200ms" },
      channels: {
        hook: {
          type: "webhook",
          url: `${receiver.url}/hook`,
          secret: "${env:HOOK_SECRET}",
        },
      },
      ui_auth: { users: [{ username: "ana", password: "${env:UI_PASSWORD}" }] },
    },
    detectors: {
      d: {
        subject: "Redeliver {n}",
        enrichments: [],
        notify: ["email", "hook"],
      },
    },
  });
  const env = {
    ...project.env,
    BLITZ_INGEST_TOKEN: TOKEN,
    HOOK_SECRET,
    UI_PASSWORD,
  };
  const server = await startServe({
    config: project.config,
    env,
    dirs: [project.dir],
    writeDirs: [project.dataDir],
  });
  const cli = (args: string[], extra: Record<string, string> = {}) =>
    runTask("redeliver", args, {
      cwd: project.dir,
      env: { ...env, SUDO_USER: "", ...extra },
      timeoutMs: 60_000,
    });
  const auth = { authorization: `Basic ${btoa(`ana:${UI_PASSWORD}`)}` };
  try {
    const ids: string[] = [];
    for (const n of ["cli", "ui"]) {
      const res = await fetch(
        `${server.url}/ingest/d`,
        ingestRequest(TOKEN, JSON.stringify({ n })),
      );
      assert.equal(res.status, 202);
      ids.push(...(await res.json()).ids);
    }
    const [cliId, uiId] = ids as [string, string];
    await until(project.dataDir, cliId, "failed");
    await until(project.dataDir, uiId, "failed");
    assert.equal(smtp.messages.length, 0);
    // The webhook's give-up is logged under its own name, with what it was sending.
    const gaveUp = server.logs.find((l) =>
      l.event === "channel_failed" && l.alert_id === cliId
    );
    assert.ok(gaveUp, "a channel_failed line");
    assert.deepEqual(
      [gaveUp.channel, gaveUp.channel_event, gaveUp.attempts],
      ["hook", "alert", 2],
    );
    receiver.open();

    await t.step(
      "bad input: no selection, both selections, an unknown id → exit 2, nothing changes",
      async () => {
        for (
          const args of [
            [],
            ["--ids", cliId, "--failed-since", "1h"],
            ["--ids", `${cliId},no-such-alert`],
            ["--failed-since", "soon"],
          ]
        ) {
          const run = await cli(args);
          assert.equal(run.code, 2, shown(run));
          assert.match(run.stderr, /^error: /m, shown(run));
          assert.equal(run.stdout, "");
        }
        assert.equal(stored(project.dataDir, cliId).alert.status, "failed");
      },
    );

    await t.step(
      "--dry-run lists the failed email and webhook and changes nothing",
      async () => {
        const run = await cli(["--failed-since", "1h", "--dry-run"]);
        assert.equal(run.code, 0, shown(run));
        const lines = run.stdout.trim().split("\n").map((l) => JSON.parse(l));
        assert.deepEqual(lines.map((l) => l.alert_id).sort(), [...ids].sort());
        for (const l of lines) {
          assert.equal(l.email, true);
          assert.deepEqual(l.channels, ["hook"]);
          assert.equal(l.previous_attempts, 2);
          assert.match(l.previous_error, /451|Try again/);
          assert.equal(l.dry_run, true);
        }
        const row = stored(project.dataDir, cliId);
        assert.equal(row.alert.status, "failed");
        assert.equal(row.hook.status, "failed");
        assert.deepEqual(row.audit, []);
      },
    );

    await t.step(
      "two redeliver commands at once: the alert is re-queued, delivered and audited once",
      async () => {
        const [a, b] = await Promise.all([
          cli(["--ids", cliId, "--actor", "alice"]),
          cli(["--ids", cliId], { USER: "bob" }),
        ]);
        assert.equal(a.code, 0, shown(a));
        assert.equal(b.code, 0, shown(b));
        const lines = [a, b].flatMap((r) =>
          r.stdout.trim() ? r.stdout.trim().split("\n") : []
        ).map((l) => JSON.parse(l));
        assert.equal(lines.length, 1, `${shown(a)}\n${shown(b)}`);
        assert.equal(lines[0].alert_id, cliId);
        assert.deepEqual(lines[0].channels, ["hook"]);
        await until(project.dataDir, cliId, "delivered");
        const row = stored(project.dataDir, cliId);
        assert.equal(row.alert.status, "delivered");
        assert.equal(row.hook.status, "delivered");
        assert.equal(row.audit.length, 1);
        assert.ok(["alice", "bob"].includes(row.audit[0]!.actor));
        assert.equal(row.audit[0]!.source, "cli");
        const mails = smtp.messages.filter((m) =>
          m.parsed.subject === "Redeliver cli"
        );
        assert.equal(mails.length, 1);
        assert.equal(mails[0]!.parsed.messageId, row.alert.message_id);
        // Once more: nothing is failed now.
        const again = await cli(["--ids", cliId]);
        assert.equal(again.code, 0, shown(again));
        assert.equal(again.stdout, "");
        assert.match(
          again.stderr,
          /skipped: nothing failed \(status delivered\)/,
        );
      },
    );

    await t.step(
      "the alert page's Redeliver button: CSRF-checked, shown only while failed, audited with the user",
      async () => {
        const page = async (id: string) => {
          const res = await fetch(`${server.url}/alerts/${id}`, {
            headers: auth,
          });
          assert.equal(res.status, 200);
          return await res.text();
        };
        const delivered = await page(cliId);
        assert.doesNotMatch(delivered, />\s*Redeliver\s*</);
        assert.match(
          delivered,
          /Redelivered \(email, hook\) by (alice|bob) \(cli\)/,
        );
        const html = await page(uiId);
        assert.match(html, />\s*Redeliver\s*</);
        const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
        assert.ok(csrf, "the form carries its CSRF field");
        const post = (body: string, headers: Record<string, string> = auth) =>
          fetch(`${server.url}/alerts/${uiId}/redeliver`, {
            method: "POST",
            headers: {
              ...headers,
              "content-type": "application/x-www-form-urlencoded",
            },
            body,
            redirect: "manual",
          });
        const forged = await post("csrf=AAAA");
        assert.equal(forged.status, 403);
        await forged.body?.cancel();
        const anonymous = await post(`csrf=${encodeURIComponent(csrf)}`, {});
        assert.equal(anonymous.status, 401);
        await anonymous.body?.cancel();
        assert.equal(stored(project.dataDir, uiId).alert.status, "failed");
        // A double click: two POSTs at once, one redelivery.
        const clicks = await Promise.all([
          post(`csrf=${encodeURIComponent(csrf)}`),
          post(`csrf=${encodeURIComponent(csrf)}`),
        ]);
        for (const res of clicks) {
          assert.equal(res.status, 303);
          assert.match(
            res.headers.get("location") ?? "",
            new RegExp(`/alerts/${uiId}$`),
          );
          await res.body?.cancel();
        }
        await until(project.dataDir, uiId, "delivered");
        const row = stored(project.dataDir, uiId);
        assert.equal(row.audit.length, 1);
        assert.deepEqual(
          [row.audit[0]!.actor, row.audit[0]!.source, row.audit[0]!.email],
          ["ana", "ui", 1],
        );
        assert.equal(
          smtp.messages.filter((m) => m.parsed.subject === "Redeliver ui")
            .length,
          1,
        );
        assert.equal(receiver.accepted.length, 2, "one webhook per alert");
        const after = await page(uiId);
        assert.doesNotMatch(after, />\s*Redeliver\s*</);
        assert.match(after, /Redelivered \(email, hook\) by ana \(ui\)/);
        assert.ok(
          server.logs.some((l) =>
            l.event === "redelivered" && l.alert_id === uiId && l.by === "ana"
          ),
        );
      },
    );
  } finally {
    await server.stop("SIGKILL");
    await smtp.close();
    await receiver.close();
    await project.cleanup();
  }
});
