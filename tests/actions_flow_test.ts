/**
 * One-click actions end to end (SECURITY.md items 1–8): an alert is ingested through the pipeline and
 * mailed to a real SMTP server on loopback; the button links are taken from the delivered email and
 * used against the real app on a real port, with a fake Jira and an HTTP receiver on loopback.
 */
import assert from "node:assert/strict";
import type { Hono } from "hono";
import { createApp } from "../routes/app.ts";
import { Metrics } from "../core/service/metrics.ts";
import { ingestAlert, type Runtime } from "../core/pipeline/pipeline.ts";
import { Queue } from "../core/service/queue.ts";
import { closeRuntime, createRuntime } from "../core/service/runtime.ts";
import { signActionToken, verifyActionToken } from "../core/auth/tokens.ts";
import { writeProject } from "./_config.ts";
import { decodeToken, encodeToken } from "./_tokens.ts";
import {
  fakeJira,
  type Receiver,
  startDeferredServer,
  startReceiver,
} from "./_http.ts";
import {
  type ReceivedMail,
  startSmtpServer,
  type TestSmtpServer,
} from "./_smtp.ts";

const ALERT = {
  ip_src_addr: "10.0.0.5",
  param2: "ssh brute force",
  param3: "500 failed logins on device 1",
  sid: 2018358,
};
// Button labels are templates: the first one is filled in the email, the pages and the audit record.
const LABELS = [
  "Create JIRA for {ip_src_addr}",
  "Forward to IR",
  "Scan host",
] as const;

/** A loopback API for http_request steps: `/block/*` answers JSON, anything else 500. */
function receiver(): Receiver {
  return startReceiver(({ path }) =>
    path.startsWith("/block/")
      ? Response.json({ blocked: true })
      : new Response("scanner is down", { status: 500 })
  );
}

interface Harness {
  /** The app's address, also its public_url. */
  base: string;
  runtime: Runtime;
  app: Hono;
  smtp: TestSmtpServer;
  /** A Data Center Jira. */
  jira: Receiver;
  api: Receiver;
  /** Every line the runtime logged. */
  logs: string[];
  /** Added to the app's clock; `at` stops it at that time (ms). */
  clock: { offsetMs: number; at?: number };
  env: Record<string, string>;
  /** Ingests an alert; returns its id, the delivered email and its button links in button order. */
  ingest(
    alert?: Record<string, unknown>,
  ): Promise<{ id: string; mail: ReceivedMail; links: string[] }>;
  /** Stops the app and the servers and removes the project. */
  [Symbol.asyncDispose](): Promise<void>;
}

function detectorConfig(
  jiraUrl: string,
  apiUrl: string,
): Record<string, unknown> {
  return {
    subject: "Email Alert : {ip_src_addr} : {param2}",
    mail_title: "{param3}",
    enrichments: [],
    actions: {
      send: [["pass_to_mail", {
        return_name: "ip_src_addr",
        data: "{ip_src_addr}",
      }]],
      reply: [
        [LABELS[0], {
          color: "orange",
          actions: [
            ["jira_create", {
              return_name: "jira_id",
              data: {
                conn_details: {
                  server: jiraUrl,
                  username: "${env:JIRA_USER}",
                  password: "${env:JIRA_TOKEN}",
                },
                fields: {
                  project: { key: "SOC" },
                  issuetype: { name: "Task" },
                  summary: "device1 - {ip_src_addr}",
                  customfield_13106: { id: "12309" },
                  customfield_13111: "NA",
                  customfield_13104: "{ip_src_addr}",
                  description: "EVENT_DESCRIPTION",
                },
              },
            }],
            ["http_request", {
              return_name: "block",
              method: "POST",
              url: `${apiUrl}/block/{ip_src_addr}?ticket={jira_id}`,
              body: { ip: "{ip_src_addr}", ticket: "{jira_id}", sid: "{sid}" },
              allow_private: true,
            }],
          ],
        }],
        [LABELS[1], {
          color: "blue",
          actions: [["forward_mail", {
            to: "ir@example.test",
            subject: "FYI {ip_src_addr}",
          }]],
        }],
        [LABELS[2], {
          color: "red",
          actions: [
            ["http_request", {
              url: `${apiUrl}/scan/{ip_src_addr}`,
              allow_private: true,
            }],
            ["pass_to_mail", { data: "never run" }],
          ],
        }],
      ],
    },
  };
}

async function setup(
  options: {
    global?: Record<string, unknown>;
    jira?: Parameters<typeof fakeJira>[0];
  } = {},
): Promise<Harness> {
  const smtp = await startSmtpServer();
  const jira = fakeJira(options.jira);
  const api = receiver();
  const server = startDeferredServer();
  const base = server.url;
  const project = await writeProject({
    global: {
      public_url: base,
      smtp: smtp.url,
      to: ["soc@example.test"],
      cc: ["lead@example.test"],
      action_rate_limit: "1000/s burst 1000",
      ...options.global,
    },
    detectors: { device_1: detectorConfig(jira.url, api.url) },
  });
  const env = {
    ...project.env,
    BLITZ_OLD_ACTION_KEY: `old-action-key-${crypto.randomUUID()}`,
  };
  const logs: string[] = [];
  const clock: { offsetMs: number; at?: number } = { offsetMs: 0 };
  let runtime: Runtime | undefined;
  try {
    runtime = await createRuntime({
      configPath: project.config,
      env: (name: string) => env[name as keyof typeof env],
      log: (event, fields) => logs.push(JSON.stringify({ event, ...fields })),
    });
  } catch (err) {
    await Promise.all([
      server.close(),
      smtp.close(),
      jira.close(),
      api.close(),
      project.cleanup(),
    ]);
    throw err;
  }
  const rt = runtime;
  const app = createApp({
    runtime: rt,
    queue: new Queue(rt),
    metrics: new Metrics(),
    now: () => clock.at ?? Date.now() + clock.offsetMs,
  });
  server.handle((req, info) => app.fetch(req, info));
  return {
    base,
    runtime: rt,
    app,
    smtp,
    jira,
    api,
    logs,
    clock,
    env,
    async ingest(alert = ALERT) {
      const { alert_id: id } = await ingestAlert(rt, "device_1", alert);
      const mail = await mailWhere(
        smtp,
        (m) => m.parsed.headers.get("x-blitz-alert-id") === id,
      );
      const links = [
        ...(mail.parsed.html || "").matchAll(
          /<a href="([^"]+)"[^>]*>([^<]*)<\/a>/g,
        ),
      ]
        .filter((m) => m[1]!.startsWith(`${base}/actions/`))
        .map((m) => m[1]!);
      return { id, mail, links };
    },
    async [Symbol.asyncDispose]() {
      await server.close();
      await closeRuntime(rt);
      await Promise.all([
        smtp.close(),
        jira.close(),
        api.close(),
        project.cleanup(),
      ]);
    },
  };
}

/** The first message (arrived or arriving) that matches. */
async function mailWhere(
  smtp: TestSmtpServer,
  match: (mail: ReceivedMail) => boolean,
): Promise<ReceivedMail> {
  for (let n = 1;; n++) {
    const found = (await smtp.waitFor(n)).find(match);
    if (found) return found;
  }
}

function tokenOf(link: string): string {
  return link.slice(link.lastIndexOf("/") + 1);
}

/** Loads the confirmation page; returns its CSRF field and form action. */
async function confirmation(
  link: string,
  headers: HeadersInit = {},
): Promise<{ csrf: string; action: string; html: string }> {
  const response = await fetch(link, { headers });
  const html = await response.text();
  assert.equal(response.status, 200, html);
  const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  assert.ok(csrf && action, "the page has a form with a CSRF field");
  return { csrf, action, html };
}

function post(
  link: string,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(link, {
    method: "POST",
    headers: { "user-agent": "blitz-test/1.0", ...headers },
    body: new URLSearchParams(fields),
  });
}

/** Asserts the response's status, discarding its body. */
async function expectStatus(
  response: Promise<Response>,
  status: number,
  message?: string,
): Promise<void> {
  const res = await response;
  await res.body?.cancel();
  if (message === undefined) assert.equal(res.status, status);
  else assert.equal(res.status, status, message);
}

function references(mail: ReceivedMail): string[] {
  const refs = mail.parsed.references;
  return refs === undefined ? [] : Array.isArray(refs) ? refs : [refs];
}

/** The token with the lowest bit of byte `index` flipped. */
function flipBit(token: string, index: number): string {
  const bytes = decodeToken(token);
  if (!Number.isInteger(index) || index < 0 || index >= bytes.length) {
    throw new RangeError(`No byte ${index}`);
  }
  bytes[index]! ^= 0x01;
  return encodeToken(bytes);
}

Deno.test("actionRoutes() runs a button once: scanners' HEAD and GETs do nothing, the form's POST acts, a replay gets 409", async () => {
  await using h = await setup();
  const { id, mail, links } = await h.ingest();
  assert.equal(links.length, 3);
  assert.match(mail.parsed.html || "", />Create JIRA for 10\.0\.0\.5<\/a>/);
  assert.match(mail.parsed.text ?? "", /^Create JIRA for 10\.0\.0\.5$/m);
  const link = links[0]!;

  // Scanner simulation: HEAD and three GETs change nothing and leave the token usable.
  await expectStatus(fetch(link, { method: "HEAD" }), 200);
  for (let i = 0; i < 3; i++) {
    const response = await fetch(link, {
      headers: { "user-agent": "Mimecast-Scanner" },
    });
    const html = await response.text();
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("referrer-policy"), "no-referrer");
    assert.match(
      response.headers.get("content-security-policy") ?? "",
      /default-src 'none'/,
    );
    assert.match(html, /Run “Create JIRA for 10\.0\.0\.5”/);
  }
  assert.equal(h.jira.requests.length, 0);
  assert.equal(h.api.requests.length, 0);
  assert.deepEqual(await h.runtime.store.listActionRuns(id), []);

  // The page never submits itself and loads nothing.
  const { csrf, action, html } = await confirmation(link);
  assert.equal(action, link);
  assert.doesNotMatch(html, /<script|http-equiv|onload=|\bsrc=|<link\b/i);
  assert.match(
    html,
    /device1 - 10\.0\.0\.5/,
    "steps are shown with placeholders filled",
  );
  assert.ok(
    html.includes(`${h.api.url}/block/10.0.0.5?ticket={jira_id}`),
    "a later step's value stays a placeholder",
  );
  assert.ok(
    !html.includes(h.env.JIRA_TOKEN!),
    "the Jira password is not shown",
  );

  // One POST from the form: exactly one Jira issue and one API call, chained.
  const response = await post(action, { csrf, actor: "Alice Analyst" });
  const result = await response.text();
  assert.equal(response.status, 200, result);
  assert.equal(response.headers.get("referrer-policy"), "no-referrer");
  assert.match(result, /Done: Create JIRA for 10\.0\.0\.5/);
  assert.match(result, /SOC-1/);
  assert.equal(h.jira.requests.length, 1);
  const created = JSON.parse(h.jira.requests[0]!.body) as {
    fields: Record<string, unknown>;
  };
  assert.equal(created.fields.summary, "device1 - 10.0.0.5");
  assert.equal(created.fields.customfield_13104, "10.0.0.5");
  assert.deepEqual(created.fields.customfield_13106, { id: "12309" });
  assert.equal(
    h.jira.requests[0]!.headers.get("authorization"),
    `Basic ${btoa(`${h.env.JIRA_USER}:${h.env.JIRA_TOKEN}`)}`,
  );
  assert.equal(h.api.requests.length, 1);
  assert.equal(h.api.requests[0]!.method, "POST");
  assert.equal(h.api.requests[0]!.path, "/block/10.0.0.5");
  assert.equal(h.api.requests[0]!.search, "?ticket=SOC-1");
  assert.deepEqual(JSON.parse(h.api.requests[0]!.body), {
    ip: "10.0.0.5",
    ticket: "SOC-1",
    sid: 2018358,
  }, "a whole-string placeholder keeps the number's JSON type");

  // The audit entry and the Jira key on the alert.
  const runs = await h.runtime.store.listActionRuns(id);
  assert.equal(runs.length, 1);
  const run = runs[0]!;
  assert.equal(
    run.button,
    "Create JIRA for 10.0.0.5",
    "the audit record has the filled label",
  );
  assert.equal(run.actor, "Alice Analyst");
  assert.equal(run.actor_source, "claimed");
  assert.equal(run.client_ip, "127.0.0.1");
  assert.equal(run.user_agent, "blitz-test/1.0");
  assert.equal(run.status, "ok");
  assert.ok(run.finished_at);
  assert.deepEqual(
    run.steps.map((s) => [s.name, s.status, s.return_name, s.value]),
    [
      ["jira_create", "ok", "jira_id", "SOC-1"],
      ["http_request", "ok", "block", {
        status: 200,
        body: { blocked: true },
      }],
    ],
  );
  assert.deepEqual((await h.runtime.store.getAlert(id))!.jira_keys, [
    "SOC-1",
  ]);

  // The follow-up email threads under the alert's Message-ID and goes to its recipients.
  const followUp = await mailWhere(
    h.smtp,
    (m) => m.parsed.inReplyTo !== undefined,
  );
  assert.equal(followUp.parsed.inReplyTo, mail.parsed.messageId);
  assert.deepEqual(references(followUp), [mail.parsed.messageId]);
  assert.equal(followUp.parsed.subject, `Re: ${mail.parsed.subject}`);
  assert.deepEqual(followUp.envelope.to.sort(), [
    "lead@example.test",
    "soc@example.test",
  ]);
  assert.match(followUp.parsed.text ?? "", /Alice Analyst \(claimed\)/);
  assert.match(followUp.parsed.text ?? "", /SOC-1/);

  // Replay: 409 with who and when, nothing run again.
  const replay = await post(action, { csrf, actor: "Mallory" });
  const replayHtml = await replay.text();
  assert.equal(replay.status, 409);
  assert.match(
    replayHtml,
    /already done by Alice Analyst at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/,
  );
  assert.match(replayHtml, /SOC-1/);
  await expectStatus(fetch(link), 409);
  assert.equal(h.jira.requests.length, 1);
  assert.equal(h.api.requests.length, 1);
  assert.equal((await h.runtime.store.listActionRuns(id)).length, 1);
  assert.equal(
    h.smtp.messages.length,
    2,
    "one alert email and one follow-up",
  );

  // No token, CSRF value or secret in the logs.
  const logText = h.logs.join("\n");
  assert.match(logText, /"event":"action_run"/);
  for (
    const secret of [
      ...links.map(tokenOf),
      csrf,
      h.env.BLITZ_ACTION_KEY!,
      h.env.JIRA_TOKEN!,
    ]
  ) {
    assert.ok(!logText.includes(secret), "a token or secret was logged");
  }
});

Deno.test("actionRoutes() refuses flipped bytes, other alerts' and buttons' tokens and unknown keys with 403", async () => {
  await using h = await setup();
  const x = await h.ingest();
  const y = await h.ingest({ ...ALERT, ip_src_addr: "10.0.0.6" });
  const token = tokenOf(x.links[0]!);
  const length = decodeToken(token).length;
  const statuses = new Map<number, number>();
  for (let i = 0; i < length; i++) {
    const response = await fetch(`${h.base}/actions/${flipBit(token, i)}`);
    await response.body?.cancel();
    statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
  }
  // A flipped expiry byte may make the link expired, which is checked first (410); everything else is 403.
  assert.deepEqual(
    [...statuses.keys()].filter((s) => s !== 403 && s !== 410),
    [],
  );
  assert.ok((statuses.get(410) ?? 0) <= 4);

  const { csrf } = await confirmation(x.links[0]!);
  const flipped = await post(
    `${h.base}/actions/${flipBit(token, length - 1)}`,
    { csrf, actor: "Eve" },
  );
  assert.equal(flipped.status, 403);
  assert.match(await flipped.text(), /not valid/);

  // X's token with Y's alert id spliced in (both UUIDs at the same place): the MAC no longer matches.
  const spliced = decodeToken(token);
  const yBytes = decodeToken(tokenOf(y.links[0]!));
  const kidEnd = 2 + spliced[1]!;
  spliced.set(yBytes.subarray(kidEnd, kidEnd + 17), kidEnd);
  await expectStatus(
    post(
      `${h.base}/actions/${encodeToken(spliced)}`,
      { csrf, actor: "Eve" },
    ),
    403,
  );
  // Y's link with X's CSRF field: the field is bound to its own token.
  await expectStatus(post(y.links[0]!, { csrf, actor: "Eve" }), 403);

  // Button 0's token pointed at button 1, and a correctly signed token whose label does not match its button.
  const otherButton = decodeToken(token);
  otherButton[kidEnd + 17] = 1;
  await expectStatus(
    fetch(`${h.base}/actions/${encodeToken(otherButton)}`),
    403,
  );
  const key = { id: "k1", secret: h.env.BLITZ_ACTION_KEY! };
  const expiresAt = Date.now() + 3_600_000;
  const wrongLabel = await signActionToken({
    alertId: x.id,
    button: 1,
    buttonLabel: LABELS[0],
    expiresAt,
  }, key);
  const mismatch = await fetch(`${h.base}/actions/${wrongLabel}`);
  assert.equal(mismatch.status, 403);
  const mismatchPage = await mismatch.text();
  // Seen once (not reproduced since): "not valid" here. The refusal's reason is in the log.
  if (!/does not match/.test(mismatchPage)) {
    assert.fail(
      `expected "does not match"; refusals logged: ${
        h.logs.filter((l) => l.includes("action_refused")).slice(-3).join(" ")
      }; token ${wrongLabel.length} chars`,
    );
  }
  const noButton = await signActionToken({
    alertId: x.id,
    button: 7,
    buttonLabel: LABELS[0],
    expiresAt,
  }, key);
  await expectStatus(fetch(`${h.base}/actions/${noButton}`), 403);

  // A token signed under a key id the server does not know, and garbage.
  const unknownKey = await signActionToken({
    alertId: x.id,
    button: 0,
    buttonLabel: LABELS[0],
    expiresAt,
  }, {
    id: "zz",
    secret: h.env.BLITZ_ACTION_KEY!,
  });
  for (const bad of [unknownKey, "abc", "A".repeat(5000), "%00"]) {
    await expectStatus(
      fetch(`${h.base}/actions/${bad}`),
      403,
      bad.slice(0, 20),
    );
  }

  // Nothing ran, nothing was consumed: the real links still work.
  assert.equal(h.jira.requests.length, 0);
  assert.equal(h.api.requests.length, 0);
  assert.deepEqual(await h.runtime.store.listActionRuns(x.id), []);
  await expectStatus(post(x.links[0]!, { csrf, actor: "Alice" }), 200);
  assert.equal(h.jira.requests.length, 1);
});

Deno.test("actionRoutes() refuses a POST without the CSRF field or a name, and consumes nothing", async () => {
  await using h = await setup();
  const { id, links } = await h.ingest();
  const { csrf } = await confirmation(links[0]!);
  for (
    const fields of [{ actor: "Alice" }, {
      csrf: csrf.slice(0, -1) + (csrf.endsWith("A") ? "B" : "A"),
      actor: "Alice",
    }]
  ) {
    await expectStatus(post(links[0]!, fields), 403);
  }
  await expectStatus(
    fetch(links[0]!, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    }),
    415,
  );
  const noName = await post(links[0]!, { csrf, actor: "  \r\n " });
  assert.equal(noName.status, 400);
  assert.match(await noName.text(), /Enter your name/);
  assert.deepEqual(await h.runtime.store.listActionRuns(id), []);
  assert.equal(h.jira.requests.length, 0);
  await expectStatus(post(links[0]!, { csrf, actor: "Alice" }), 200);
});

Deno.test("actionRoutes() answers 410 once the link has expired (injected clock), expiry checked before anything else", async () => {
  await using h = await setup();
  const { id, links } = await h.ingest();
  const link = links[0]!;
  const { csrf } = await confirmation(link);
  const claims = await verifyActionToken(
    tokenOf(link),
    h.runtime.config.global.action_keys,
  );

  // The clock stands a second before the expiry, then a second after: a request that takes longer
  // than a second on a loaded machine must not cross the line on its own.
  h.clock.at = claims.expiresAt - 1000;
  await expectStatus(fetch(link), 200);

  h.clock.at = claims.expiresAt + 1000;
  const page = await fetch(link);
  assert.equal(page.status, 410);
  assert.equal(page.headers.get("referrer-policy"), "no-referrer");
  assert.match(await page.text(), /expired/);
  await expectStatus(post(link, { csrf, actor: "Alice" }), 410);
  // Even a forged token says "expired" when its expiry has passed: expiry is checked first.
  await expectStatus(
    fetch(
      `${h.base}/actions/${
        flipBit(tokenOf(link), decodeToken(tokenOf(link)).length - 1)
      }`,
    ),
    410,
  );

  assert.equal(h.jira.requests.length, 0);
  assert.deepEqual(await h.runtime.store.listActionRuns(id), []);
});

Deno.test("actionRoutes() accepts the previous key during rotation and refuses it once retired", async () => {
  await using h = await setup({
    global: {
      action_keys: [{ id: "k0", secret: "${env:BLITZ_OLD_ACTION_KEY}" }],
    },
  });
  const old = await h.ingest();
  assert.equal(
    (await verifyActionToken(
      tokenOf(old.links[0]!),
      h.runtime.config.global.action_keys,
    )).kid,
    "k0",
  );

  // Overlap: k1 signs, k0 still verifies.
  const global = h.runtime.config.global;
  global.action_keys = [{ id: "k1", secret: h.env.BLITZ_ACTION_KEY! }, {
    id: "k0",
    secret: h.env.BLITZ_OLD_ACTION_KEY!,
  }];
  const fresh = await h.ingest({ ...ALERT, ip_src_addr: "10.0.0.7" });
  assert.equal(
    (await verifyActionToken(tokenOf(fresh.links[0]!), global.action_keys))
      .kid,
    "k1",
  );
  const { csrf } = await confirmation(old.links[0]!);
  await expectStatus(post(old.links[0]!, { csrf, actor: "Alice" }), 200);
  assert.equal(h.jira.requests.length, 1);

  // Retired: k0 is gone, its links are refused; k1's still work.
  global.action_keys = [{ id: "k1", secret: h.env.BLITZ_ACTION_KEY! }];
  await expectStatus(fetch(old.links[1]!), 403);
  await expectStatus(fetch(fresh.links[0]!), 200);
});

Deno.test("actionRoutes() runs a button once when two POSTs race", async () => {
  await using h = await setup();
  const { id, links } = await h.ingest();
  const { csrf } = await confirmation(links[0]!);
  const responses = await Promise.all([
    post(links[0]!, { csrf, actor: "Alice" }),
    post(links[0]!, { csrf, actor: "Bob" }),
  ]);
  await Promise.all(responses.map((r) => r.body?.cancel()));
  assert.deepEqual(responses.map((r) => r.status).sort(), [200, 409]);
  assert.equal(h.jira.requests.length, 1);
  assert.equal(h.api.requests.length, 1);
  assert.equal((await h.runtime.store.listActionRuns(id)).length, 1);
  assert.deepEqual((await h.runtime.store.getAlert(id))!.jira_keys, [
    "SOC-1",
  ]);
});

Deno.test("actionRoutes() builds links and forms from public_url, never from the Host header", async () => {
  await using h = await setup();
  const { links } = await h.ingest();
  const token = tokenOf(links[0]!);
  // What Deno.serve hands the app when a client sends "Host: evil.example".
  const response = await h.app.request(
    `http://evil.example/actions/${token}`,
    {
      headers: {
        host: "evil.example",
        "x-forwarded-host": "evil.example",
        "x-forwarded-proto": "https",
      },
    },
  );
  const html = await response.text();
  assert.equal(response.status, 200);
  assert.ok(html.includes(`action="${h.base}/actions/${token}"`));
  assert.ok(!html.includes("evil.example"));
  assert.match(
    response.headers.get("content-security-policy") ?? "",
    new RegExp(`form-action ${h.base}`),
  );
});

Deno.test("actionRoutes() rate-limits per client address with 429 and Retry-After", async () => {
  await using h = await setup({ global: { action_rate_limit: "1/m burst 3" } });
  const { links } = await h.ingest();
  for (let i = 0; i < 3; i++) {
    await expectStatus(fetch(links[0]!), 200);
  }
  const limited = await fetch(links[0]!);
  assert.equal(limited.status, 429);
  assert.ok(Number(limited.headers.get("retry-after")) >= 1);
  assert.equal(limited.headers.get("referrer-policy"), "no-referrer");
  await limited.body?.cancel();
  await expectStatus(post(links[0]!, { csrf: "x", actor: "Alice" }), 429);
  assert.equal(h.jira.requests.length, 0);
});

Deno.test("actionRoutes() records the trusted header's user only when trusted_user_header is configured", async () => {
  {
    await using trusted = await setup({
      global: {
        trusted_user_header: "X-Forwarded-User",
        trusted_proxies: ["127.0.0.1/32"], // the test's requests stand for the sign-in proxy's
      },
    });
    const { id, links } = await trusted.ingest();
    await expectStatus(fetch(links[0]!), 403);
    const { csrf, html } = await confirmation(links[0]!, {
      "x-forwarded-user": "alice@example.test",
    });
    assert.match(html, /Signed in as <strong>alice@example\.test<\/strong>/);
    assert.doesNotMatch(html, /name="actor"/);
    await expectStatus(post(links[0]!, { csrf, actor: "mallory" }), 403);
    assert.deepEqual(await trusted.runtime.store.listActionRuns(id), []);
    await expectStatus(
      post(links[0]!, { csrf, actor: "mallory" }, {
        "x-forwarded-user": "alice@example.test",
      }),
      200,
    );
    const [run] = await trusted.runtime.store.listActionRuns(id);
    assert.equal(run!.actor, "alice@example.test");
    assert.equal(run!.actor_source, "trusted_header");
  }

  await using plain = await setup();
  const { id, links } = await plain.ingest();
  const { csrf } = await confirmation(links[0]!, {
    "x-forwarded-user": "boss@example.test",
  });
  await expectStatus(
    post(links[0]!, { csrf, actor: "Alice" }, {
      "x-forwarded-user": "boss@example.test",
    }),
    200,
  );
  const [run] = await plain.runtime.store.listActionRuns(id);
  assert.equal(run!.actor, "Alice");
  assert.equal(run!.actor_source, "claimed");
});

Deno.test("actionRoutes() forwards the original email with forward_mail", async () => {
  await using h = await setup();
  const { id, mail, links } = await h.ingest();
  const { csrf } = await confirmation(links[1]!);
  const response = await post(links[1]!, { csrf, actor: "Alice" });
  assert.equal(response.status, 200, await response.text());
  const forwarded = await mailWhere(
    h.smtp,
    (m) => m.envelope.to.includes("ir@example.test"),
  );
  assert.deepEqual(forwarded.envelope.to, ["ir@example.test"]);
  assert.equal(forwarded.parsed.subject, "FYI 10.0.0.5");
  assert.deepEqual(references(forwarded), [mail.parsed.messageId]);
  assert.match(forwarded.parsed.text ?? "", /Forwarded message/);
  assert.ok(
    (forwarded.parsed.text ?? "").includes(
      mail.parsed.text!.trim().split("\n")[0]!,
    ),
  );
  assert.ok(
    (forwarded.parsed.html || "").includes("500 failed logins on device 1"),
  );
  const [run] = await h.runtime.store.listActionRuns(id);
  assert.equal(run!.status, "ok");
  assert.deepEqual((run!.steps[0]!.value as { to: string[] }).to, [
    "ir@example.test",
  ]);
});

Deno.test("actionRoutes() stops at a failing step, records the error and still sends the follow-up", async () => {
  await using h = await setup();
  const { id, mail, links } = await h.ingest();
  const { csrf } = await confirmation(links[2]!);
  const response = await post(links[2]!, { csrf, actor: "Alice" });
  const html = await response.text();
  assert.equal(response.status, 200);
  assert.match(html, /Failed: Scan host/);
  assert.match(html, /answered 500: scanner is down/);
  const [run] = await h.runtime.store.listActionRuns(id);
  assert.equal(run!.status, "error");
  assert.deepEqual(run!.steps.map((s) => [s.name, s.status]), [[
    "http_request",
    "error",
  ], ["pass_to_mail", "skipped"]]);
  const followUp = await mailWhere(
    h.smtp,
    (m) => m.parsed.inReplyTo === mail.parsed.messageId,
  );
  assert.match(followUp.parsed.text ?? "", /scanner is down/);
});

Deno.test("actionRoutes(): a Jira that echoes the Basic Authorization header in its error leaks it nowhere, and its message is capped", async () => {
  const password = "correct horse battery";
  await using h = await setup({
    jira: { echoAuthorization: true, padding: 2_000 },
    global: { ui_auth: { users: [{ username: "analyst", password }] } },
  });
  const { id, mail, links } = await h.ingest();
  const { csrf } = await confirmation(links[0]!);
  const response = await post(links[0]!, { csrf, actor: "Alice" });
  const page = await response.text();
  assert.equal(response.status, 200);
  assert.match(page, /Failed: Create JIRA/);
  // The request really carried the credentials the Jira echoed.
  const basic = btoa(`${h.env.JIRA_USER}:${h.env.JIRA_TOKEN}`);
  assert.equal(
    h.jira.requests[0]!.headers.get("authorization"),
    `Basic ${basic}`,
  );
  const followUp = await mailWhere(
    h.smtp,
    (m) => m.parsed.inReplyTo === mail.parsed.messageId,
  );
  const [run] = await h.runtime.store.listActionRuns(id);
  const detail = await (await fetch(`${h.base}/alerts/${id}`, {
    headers: { authorization: `Basic ${btoa(`analyst:${password}`)}` },
  })).text();
  const places = {
    "result page": page,
    "follow-up text": followUp.parsed.text ?? "",
    "follow-up html": String(followUp.parsed.html),
    "follow-up source": followUp.raw,
    "stored run": JSON.stringify(run),
    "alert page": detail,
    logs: h.logs.join("\n"),
  };
  for (const [where, text] of Object.entries(places)) {
    assert.ok(!text.includes(basic), `${where} holds the Basic credentials`);
    assert.ok(!text.includes(h.env.JIRA_TOKEN!), `${where} holds the token`);
  }
  assert.match(run!.steps[0]!.error ?? "", /Authorization: Basic \[redacted\]/);
  assert.ok(
    (run!.steps[0]!.error ?? "").length <= 300,
    `stored error of ${run!.steps[0]!.error?.length} characters`,
  );
  assert.ok(!page.includes("x".repeat(400)), "the page shows the cap");
});

Deno.test("actionRoutes() encodes alert values into step URLs and escapes them on the page", async () => {
  await using h = await setup();
  const hostile = {
    ...ALERT,
    ip_src_addr: "../../admin?drop=1#x",
    param2: `"><img src=x onerror=alert(1)>`,
  };
  const { links } = await h.ingest(hostile);
  const { csrf, html } = await confirmation(links[0]!);
  assert.ok(!html.includes("<img src=x"));
  assert.ok(
    html.includes("&lt;img src=x onerror=alert(1)>") ||
      html.includes("&lt;img src=x onerror=alert(1)&gt;"),
  );
  await expectStatus(post(links[0]!, { csrf, actor: "Alice" }), 200);
  assert.equal(h.api.requests.length, 1);
  assert.equal(
    h.api.requests[0]!.path,
    "/block/..%2F..%2Fadmin%3Fdrop%3D1%23x",
  );
  assert.equal(h.api.requests[0]!.search, "?ticket=SOC-1");
});

Deno.test("alertRoutes() lists alerts and shows the audit trail and Jira links behind ui_auth", async () => {
  const password = "correct horse battery";
  {
    await using h = await setup({
      global: { ui_auth: { users: [{ username: "analyst", password }] } },
    });
    const { id, links } = await h.ingest();
    const { csrf } = await confirmation(links[0]!);
    await expectStatus(post(links[0]!, { csrf, actor: "Alice Analyst" }), 200);

    const anonymous = await fetch(`${h.base}/alerts`);
    assert.equal(anonymous.status, 401);
    assert.match(
      anonymous.headers.get("www-authenticate") ?? "",
      /^Basic realm="Blitz"/,
    );
    await anonymous.body?.cancel();
    await expectStatus(
      fetch(`${h.base}/alerts`, {
        headers: { authorization: `Basic ${btoa("analyst:wrong password")}` },
      }),
      401,
    );
    await expectStatus(
      fetch(`${h.base}/alerts`, { headers: { "x-forwarded-user": "analyst" } }),
      401,
      "a trusted header is ignored unless configured",
    );

    const auth = { authorization: `Basic ${btoa(`analyst:${password}`)}` };
    const list = await fetch(
      `${h.base}/alerts?detector=device_1&status=delivered`,
      { headers: auth },
    );
    const listHtml = await list.text();
    assert.equal(list.status, 200);
    assert.equal(list.headers.get("referrer-policy"), "no-referrer");
    assert.ok(listHtml.includes(`${h.base}/alerts/${id}`));
    assert.match(listHtml, /Email Alert : 10\.0\.0\.5 : ssh brute force/);
    const none = await fetch(`${h.base}/alerts?status=failed`, {
      headers: auth,
    });
    assert.doesNotMatch(await none.text(), new RegExp(id));
    await expectStatus(
      fetch(`${h.base}/alerts?status=bogus`, { headers: auth }),
      400,
    );

    const detail = await fetch(`${h.base}/alerts/${id}`, { headers: auth });
    const detailHtml = await detail.text();
    assert.equal(detail.status, 200);
    assert.ok(
      detailHtml.includes(
        `<a href="${h.jira.url}/browse/SOC-1" rel="noreferrer noopener">SOC-1</a>`,
      ),
    );
    assert.match(detailHtml, /Alice Analyst/);
    assert.match(detailHtml, /blitz-test\/1\.0/);
    assert.ok(
      !detailHtml.includes("/actions/"),
      "the page shows no live action links",
    );
    await expectStatus(
      fetch(`${h.base}/alerts/no-such-alert`, { headers: auth }),
      404,
    );
  }

  await using sso = await setup({
    global: {
      ui_auth: { trusted_header: "X-Forwarded-User" },
      trusted_proxies: ["127.0.0.1/32"],
    },
  });
  await sso.ingest();
  const response = await fetch(`${sso.base}/alerts`, {
    headers: { "x-forwarded-user": "carol@example.test" },
  });
  assert.equal(response.status, 200);
  assert.match(await response.text(), /carol@example\.test/);
  await expectStatus(fetch(`${sso.base}/alerts`), 401);
});
