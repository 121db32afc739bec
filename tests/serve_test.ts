/**
 * `blitz serve` end to end: a child process started with the serve task's permission flags, a real port,
 * a real SMTP server on loopback.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { signBody } from "../core/auth/auth.ts";
import { startSmtpServer, type TestSmtpServer } from "./_smtp.ts";
import { type TestProject, writeProject } from "./_config.ts";
import { ingestRequest } from "./_ingest.ts";
import { rawRequest, type ServeProcess, startServe } from "./_serve.ts";

const hex = (n: number) =>
  Array.from(
    crypto.getRandomValues(new Uint8Array(n)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
const TOKEN = `ingest-new-${hex(16)}`;
const OLD_TOKEN = `ingest-old-${hex(16)}`;
const HMAC_SECRET = `ingest-hmac-${hex(16)}`;
const MAIL_HOST = "blitz.example.test";
const LIMIT = 1024 * 1024;

interface Fixture {
  project: TestProject;
  env: Record<string, string>;
  start(): Promise<ServeProcess>;
}

/** A project whose config listens on a random port and mails to `smtp`, with three detectors. */
async function fixture(
  smtp: string,
  global: Record<string, unknown> = {},
): Promise<Fixture> {
  const project = await writeProject({
    global: {
      listen: "127.0.0.1:0",
      public_url: `https://${MAIL_HOST}`,
      ingest_tokens: [
        "${env:BLITZ_INGEST_TOKEN}",
        "${env:BLITZ_INGEST_TOKEN_OLD}",
      ],
      smtp: `${smtp}?ignore_tls=1`,
      max_body_bytes: LIMIT,
      max_json_depth: 16,
      delivery: {
        max_attempts: 50,
        backoff: "100ms",
        max_backoff: "400ms",
        timeout: "5s",
      },
      ...global,
    },
    detectors: {
      t1: { subject: "Alert {n}", enrichments: [] },
      keyed: {
        subject: "Keyed {event_id}",
        enrichments: [],
        id_field: "event_id",
      },
      nowhere: {
        subject: "Nobody {n}",
        enrichments: [],
        mailers: { override: true, to: [], cc: [] },
      },
    },
  });
  const env = {
    ...project.env,
    BLITZ_INGEST_TOKEN: TOKEN,
    BLITZ_INGEST_TOKEN_OLD: OLD_TOKEN,
    BLITZ_INGEST_HMAC: HMAC_SECRET,
  };
  return {
    project,
    env,
    start: () =>
      startServe({
        config: project.config,
        env,
        dirs: [project.dir],
        writeDirs: [project.dataDir],
      }),
  };
}

function post(
  server: ServeProcess,
  detector: string,
  body: BodyInit,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(
    `${server.url}/ingest/${detector}`,
    ingestRequest(TOKEN, body, headers),
  );
}

/** Status, JSON body and headers of a response (body consumed). */
async function read(
  res: Response | Promise<Response>,
): Promise<
  { status: number; body: Record<string, unknown>; headers: Headers }
> {
  const r = await res;
  const text = await r.text();
  return {
    status: r.status,
    body: text ? JSON.parse(text) : {},
    headers: r.headers,
  };
}

async function metric(server: ServeProcess, series: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

function messageIds(smtp: TestSmtpServer): string[] {
  return smtp.messages.map((m) => m.parsed.messageId ?? "");
}

const idOf = (messageId: string) => messageId.replace(/^<|@.*$/g, "");

async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

Deno.test("serve ingest: auth, media types, limits, batches, idempotency, NiFi replay, burst, logs", async (t) => {
  const smtp = await startSmtpServer();
  const fx = await fixture(smtp.url);
  const server = await fx.start();
  try {
    const delivered = new Set<string>(); // alert ids that must be mailed exactly once
    const accept = async (res: Promise<Response>, count = 1) => {
      const { status, body } = await read(res);
      assert.equal(status, 202, JSON.stringify(body));
      assert.equal(body.accepted, count);
      const ids = body.ids as string[];
      assert.equal(ids.length, count);
      return ids;
    };

    await t.step(
      "missing, malformed or wrong credentials get 401; every rotated token works",
      async () => {
        for (
          const authorization of [
            undefined,
            "",
            `Basic ${btoa(`u:${TOKEN}`)}`,
            `Bearer ${TOKEN}x`,
            `Bearer ${HMAC_SECRET}`,
          ]
        ) {
          const headers: Record<string, string> = {
            "content-type": "application/json",
          };
          if (authorization !== undefined) {
            headers.authorization = authorization;
          }
          const res = await fetch(`${server.url}/ingest/t1`, {
            method: "POST",
            headers,
            body: '{"n":"x"}',
          });
          const { status, body } = await read(res);
          assert.equal(status, 401, String(authorization));
          assert.equal(
            res.headers.get("www-authenticate"),
            'Bearer realm="blitz"',
          );
          assert.equal(typeof body.error, "string");
        }
        for (
          const id of await accept(post(server, "t1", '{"n":"new-token"}'))
        ) delivered.add(id);
        const old = post(server, "t1", '{"n":"old-token"}', {
          authorization: `Bearer ${OLD_TOKEN}`,
        });
        for (const id of await accept(old)) delivered.add(id);
      },
    );

    await t.step(
      "content types: JSON (with charset) and NDJSON accepted, anything else 415",
      async () => {
        const json = post(server, "t1", '{"n":"charset"}', {
          "content-type": "application/json; charset=utf-8",
        });
        for (const id of await accept(json)) delivered.add(id);
        const ndjson = post(server, "t1", '{"n":"nd-1"}\n{"n":"nd-2"}\n', {
          "content-type": "application/x-ndjson",
        });
        for (const id of await accept(ndjson, 2)) delivered.add(id);
        for (
          const type of [
            "text/plain",
            "application/octet-stream",
            "application/x-www-form-urlencoded",
            "application/json; charset=iso-8859-1",
          ]
        ) {
          const { status, body } = await read(
            post(server, "t1", '{"n":"no"}', { "content-type": type }),
          );
          assert.equal(status, 415, type);
          assert.match(String(body.error), /application\/json|UTF-8/);
        }
      },
    );

    await t.step(
      "unknown detector 404 without listing detectors; bad JSON, non-objects and deep nesting 400; GET 405",
      async () => {
        const missing = await read(post(server, "no_such_detector", '{"n":1}'));
        assert.equal(missing.status, 404);
        assert.match(
          String(missing.body.error),
          /Unknown detector "no_such_detector"/,
        );
        assert.doesNotMatch(String(missing.body.error), /t1|keyed|nowhere/);
        const cases: [string, RegExp][] = [
          ['{"n":', /Invalid JSON/],
          ['"just a string"', /must be a JSON object/],
          ["42", /must be a JSON object/],
          ["", /Empty body/],
          [
            '{"a":'.repeat(20) + "1" + "}".repeat(20),
            /nested deeper than 16 levels/,
          ],
        ];
        for (const [body, pattern] of cases) {
          const res = await read(post(server, "t1", body));
          assert.equal(res.status, 400, body);
          assert.match(String(res.body.error), pattern);
        }
        const get = await read(
          fetch(`${server.url}/ingest/t1`, {
            headers: { authorization: `Bearer ${TOKEN}` },
          }),
        );
        assert.equal(get.status, 405);
      },
    );

    await t.step(
      "a batch or NDJSON with one bad element is refused whole, naming the element",
      async () => {
        const before = await metric(
          server,
          'blitz_alerts_ingested_total{detector="t1"}',
        );
        const array = await read(
          post(server, "t1", '[{"n":"bad-batch"},"oops",{"n":"bad-batch"}]'),
        );
        assert.equal(array.status, 400);
        assert.match(
          String(array.body.error),
          /^Element 1 of the array must be a JSON object.*nothing was accepted$/,
        );
        const lines = await read(
          post(server, "t1", '{"n":"bad-batch"}\n{"n": oops}\n', {
            "content-type": "application/x-ndjson",
          }),
        );
        assert.equal(lines.status, 400);
        assert.match(String(lines.body.error), /^Line 2: invalid JSON/);
        assert.equal(
          await metric(server, 'blitz_alerts_ingested_total{detector="t1"}'),
          before,
        );
        const good = await accept(
          post(
            server,
            "t1",
            '[{"n":"batch-1"},{"n":"batch-2"},{"n":"batch-3"}]',
          ),
          3,
        );
        assert.equal(new Set(good).size, 3);
        for (const id of good) delivered.add(id);
      },
    );

    await t.step(
      "a retried request returns the original ids and creates no second alert",
      async () => {
        const first = await read(
          post(server, "t1", '{"n":"idem-1"}', {
            "idempotency-key": "nifi-ff-0001",
          }),
        );
        const again = await read(
          post(server, "t1", '{"n":"idem-1"}', {
            "idempotency-key": "nifi-ff-0001",
          }),
        );
        assert.equal(first.status, 202);
        assert.equal(again.status, 202);
        assert.deepEqual(again.body.ids, first.body.ids);
        assert.equal(again.body.duplicates, 1);
        const batch = '[{"n":"idem-b1"},{"n":"idem-b2"}]';
        const b1 = await read(
          post(server, "t1", batch, { "idempotency-key": "batch-7" }),
        );
        const b2 = await read(
          post(server, "t1", batch, { "idempotency-key": "batch-7" }),
        );
        assert.deepEqual(b2.body.ids, b1.body.ids);
        assert.equal(b2.body.duplicates, 2);
        // The detector's id_field: the same event in two different requests is one alert.
        const k1 = await read(
          post(server, "keyed", '{"event_id":"evt-42","n":1}'),
        );
        const k2 = await read(
          post(
            server,
            "keyed",
            '[{"event_id":"evt-43"},{"event_id":"evt-42","n":2}]',
          ),
        );
        assert.equal(
          (k2.body.ids as string[])[1],
          (k1.body.ids as string[])[0],
        );
        assert.notEqual(
          (k2.body.ids as string[])[0],
          (k1.body.ids as string[])[0],
        );
        for (const r of [first, b1, k1, k2]) {
          for (const id of r.body.ids as string[]) {
            delivered.add(id);
          }
        }
      },
    );

    await t.step(
      "over max_body_bytes: declared 413 at once; 10x the limit chunked 413 with flat memory",
      async () => {
        const headers: [string, string][] = [["Host", "x"], [
          "Authorization",
          `Bearer ${TOKEN}`,
        ], ["Content-Type", "application/json"]];
        const declared = await rawRequest(server.url, {
          path: "/ingest/t1",
          headers: [...headers, ["Content-Length", String(LIMIT + 1)]],
        });
        assert.equal(declared.status, 413);
        const rss = () => metric(server, "process_resident_memory_bytes");
        // Warm up (allocations the first big request makes anyway), then measure.
        const chunk = new Uint8Array(64 * 1024).fill(0x20);
        const tenTimes = function* () {
          yield '{"n":"';
          for (let i = 0; i < (10 * LIMIT) / chunk.byteLength; i++) yield chunk;
          yield '"}';
        };
        await rawRequest(server.url, {
          path: "/ingest/t1",
          headers,
          body: tenTimes(),
          chunked: true,
        });
        const before = await rss();
        // Five at once: a server that buffered the bodies would hold 50 MiB at the same time (measured: 60-90 MiB
        // of growth when the limit is checked only after reading; 10-17 MiB as it is).
        const refused = await Promise.all(
          Array.from(
            { length: 5 },
            () =>
              rawRequest(server.url, {
                path: "/ingest/t1",
                headers,
                body: tenTimes(),
                chunked: true,
              }),
          ),
        );
        for (const res of refused) {
          assert.equal(res.status, 413);
          assert.equal(res.headers.get("connection"), "close");
          assert.match(
            JSON.parse(res.text).error,
            /max_body_bytes \(1048576 bytes\)/,
          );
        }
        const grown = (await rss()) - before;
        assert.ok(
          grown < 30 * 1024 * 1024,
          `RSS grew by ${
            (grown / 1048576).toFixed(1)
          } MiB while 5 x 10 MiB were refused`,
        );
        const ok = await (await post(server, "t1", '{"n":"after-413"}')).json();
        for (const id of ok.ids) delivered.add(id);
      },
    );

    await t.step(
      "replays what NiFi InvokeHTTP sends: default headers, chunked, gzip",
      async () => {
        const host = new URL(server.url).host;
        const invokeHttp = (extra: [string, string][]): [string, string][] => [
          ["User-Agent", ""], // InvokeHTTP sends an empty User-Agent unless "Request User-Agent" is set
          ["Date", new Date().toUTCString()],
          ["Authorization", `Bearer ${TOKEN}`], // the sensitive dynamic property
          ...extra,
          ["Content-Type", "application/json"],
          ["Host", host],
          ["Connection", "Keep-Alive"],
          ["Accept-Encoding", "gzip"],
        ];
        const alert = (n: string) =>
          JSON.stringify({
            n,
            ip_src_addr: "192.0.2.10",
            sensor: "ids-dmz-01",
          });
        const plain = await rawRequest(server.url, {
          path: "/ingest/t1",
          headers: invokeHttp([]),
          body: [alert("nifi-plain")],
        });
        const text = alert("nifi-chunked");
        const chunked = await rawRequest(server.url, {
          path: "/ingest/t1",
          headers: invokeHttp([]),
          body: [text.slice(0, 5), text.slice(5, 17), text.slice(17)],
          chunked: true,
        });
        const zipped = new Uint8Array(
          await new Response(
            new Blob([alert("nifi-gzip")]).stream().pipeThrough(
              new CompressionStream("gzip"),
            ),
          ).arrayBuffer(),
        );
        const gzip = await rawRequest(server.url, {
          path: "/ingest/t1",
          headers: invokeHttp([["Content-Encoding", "gzip"]]),
          body: [zipped.subarray(0, 10), zipped.subarray(10)],
          chunked: true,
        });
        for (const res of [plain, chunked, gzip]) {
          assert.equal(res.status, 202, res.text);
          const ids = JSON.parse(res.text).ids as string[];
          assert.equal(ids.length, 1);
          delivered.add(ids[0]!);
        }
        const octet = await rawRequest(server.url, {
          path: "/ingest/t1",
          headers: invokeHttp([]).map((
            [k, v],
          ) => [k, k === "Content-Type" ? "application/octet-stream" : v]),
          body: [alert("nifi-default-type")],
        });
        assert.equal(
          octet.status,
          415,
          "InvokeHTTP's fallback type is refused with a hint",
        );
        await until(
          () =>
            smtp.messages.some((m) => m.parsed.subject === "Alert nifi-gzip"),
          "the gzip alert's mail",
        );
      },
    );

    await t.step(
      "a burst of 200 alerts over 20 connections is delivered, each once",
      async () => {
        const ids: string[] = [];
        let next = 0;
        await Promise.all(Array.from({ length: 20 }, async () => {
          while (next < 200) {
            const n = next++;
            ids.push(
              ...await accept(
                post(server, "t1", JSON.stringify({ n: `burst-${n}` })),
              ),
            );
          }
        }));
        for (const id of ids) delivered.add(id);
        assert.equal(new Set(ids).size, 200);
      },
    );

    await t.step(
      "every accepted alert is mailed exactly once; a detector without recipients fails visibly",
      async () => {
        const failedId =
          (await accept(post(server, "nowhere", '{"n":"no-recipient"}')))[0]!;
        await until(
          () => new Set(messageIds(smtp)).size >= delivered.size,
          `${delivered.size} mails`,
          30_000,
        );
        await new Promise((resolve) => setTimeout(resolve, 300)); // a duplicate would arrive now
        const counts = new Map<string, number>();
        for (const id of messageIds(smtp)) {
          counts.set(id, (counts.get(id) ?? 0) + 1);
        }
        for (const id of delivered) {
          assert.equal(
            counts.get(`<${id}@${MAIL_HOST}>`),
            1,
            `mails for ${id}`,
          );
        }
        assert.equal(
          counts.size,
          delivered.size,
          "no mail for anything not accepted",
        );
        assert.ok(
          !smtp.messages.some((m) =>
            /bad-batch|no-recipient/.test(m.parsed.subject ?? "")
          ),
        );
        const failed = await server.waitForLog((l) =>
          l.event === "failed" && l.alert_id === failedId
        );
        assert.match(String(failed.error), /No recipients/);
        assert.equal(
          await metric(server, 'blitz_alerts_failed_total{detector="nowhere"}'),
          1,
        );
        // A mail arrives before its outcome is written: wait for the outcomes, then the backlog is exact.
        const processed = async () =>
          await metric(
            server,
            'blitz_alerts_processed_total{detector="t1",outcome="delivered"}',
          ) +
          await metric(
            server,
            'blitz_alerts_processed_total{detector="keyed",outcome="delivered"}',
          );
        await until(
          async () => await processed() >= counts.size,
          `${counts.size} recorded outcomes`,
        );
        assert.equal(await processed(), counts.size);
        assert.equal(await metric(server, "blitz_backlog"), 0);
      },
    );

    await t.step(
      "logs: one JSON line per state change, never a token or secret",
      () => {
        const id = [...delivered][0]!;
        for (const event of ["accepted", "enriched", "delivered"]) {
          const line = server.logs.find((l) =>
            l.event === event && l.alert_id === id
          );
          assert.ok(line, `${event} line for ${id}`);
          assert.equal(line.detector, "t1");
        }
        const accepted = server.logs.filter((l) =>
          l.event === "accepted"
        ).length;
        assert.equal(accepted, delivered.size + 1);
        for (
          const secret of [
            TOKEN,
            OLD_TOKEN,
            HMAC_SECRET,
            fx.env.BLITZ_ACTION_KEY!,
          ]
        ) {
          assert.ok(
            !server.stderr().includes(secret),
            "a secret reached the logs",
          );
        }
      },
    );

    await t.step(
      "healthz reports the store and backlog; SIGTERM stops gracefully with exit 0",
      async () => {
        const health = await read(fetch(`${server.url}/healthz`));
        assert.equal(health.status, 200);
        assert.equal(health.body.store, "writable");
        assert.equal(health.body.backlog, 0);
        const status = await server.stop("SIGTERM");
        assert.equal(status.code, 0);
        assert.ok(server.logs.some((l) => l.event === "stopped"));
      },
    );
  } finally {
    await server.stop("SIGKILL");
    await smtp.close();
    await fx.project.cleanup();
  }
});

Deno.test("serve with ingest_hmac_secret: every request must be signed; unsigned and badly signed ones get a logged 401", async (t) => {
  const smtp = await startSmtpServer();
  const fx = await fixture(smtp.url, {
    ingest_hmac_secret: "${env:BLITZ_INGEST_HMAC}",
  });
  const server = await fx.start();
  try {
    const delivered = new Set<string>();
    const accept = async (res: Promise<Response>, count = 1) => {
      const { status, body } = await read(res);
      assert.equal(status, 202, JSON.stringify(body));
      assert.equal(body.accepted, count);
      return body.ids as string[];
    };

    await t.step(
      "an unsigned request with a valid token gets 401 and an ingest_auth_failed line",
      async () => {
        const unsigned = await read(post(server, "t1", '{"n":"unsigned"}'));
        assert.equal(unsigned.status, 401);
        assert.equal(
          unsigned.headers.get("www-authenticate"),
          'Bearer realm="blitz"',
        );
        assert.match(
          String(unsigned.body.error),
          /requires signed requests/,
        );
        await until(
          () => server.logs.some((l) => l.event === "ingest_auth_failed"),
          "the ingest_auth_failed line",
        );
        assert.ok(!server.logs.some((l) => l.event === "accepted"));
      },
    );

    await t.step(
      "a signed request is verified: fresh passes, stale or changed body gets 401",
      async () => {
        const body = '{"n":"signed"}';
        const now = Math.floor(Date.now() / 1000);
        const signature = signBody(HMAC_SECRET, now, body);
        const headers = {
          "x-blitz-timestamp": String(now),
          "x-blitz-signature": signature,
        };
        for (const id of await accept(post(server, "t1", body, headers))) {
          delivered.add(id);
        }
        const changed = await read(
          post(server, "t1", '{"n":"signed!"}', headers),
        );
        assert.equal(changed.status, 401);
        assert.match(String(changed.body.error), /Invalid X-Blitz-Signature/);
        const stale = now - 301;
        const old = await read(
          post(server, "t1", body, {
            "x-blitz-timestamp": String(stale),
            "x-blitz-signature": signBody(HMAC_SECRET, stale, body),
          }),
        );
        assert.equal(old.status, 401);
        assert.match(String(old.body.error), /300 s/);
      },
    );

    await t.step("only the signed alert was accepted and mailed", async () => {
      const [mail] = await smtp.waitFor(1, 20_000);
      assert.equal(mail!.parsed.subject, "Alert signed");
      assert.deepEqual(
        server.logs.filter((l) => l.event === "accepted").map((l) =>
          l.alert_id
        ),
        [...delivered],
      );
      assert.ok(
        !server.stderr().includes(HMAC_SECRET),
        "the secret reached the logs",
      );
    });
  } finally {
    await server.stop("SIGKILL");
    await smtp.close();
    await fx.project.cleanup();
  }
});

Deno.test("serve refuses to start without ingest_tokens, and twice on one data dir", async () => {
  const smtp = await startSmtpServer();
  const fx = await fixture(smtp.url);
  const none = await writeProject({
    global: { listen: "127.0.0.1:0", smtp: `${smtp.url}?ignore_tls=1` },
  });
  try {
    await assert.rejects(
      startServe({
        config: none.config,
        env: none.env,
        dirs: [none.dir],
        writeDirs: [none.dataDir],
      }),
      /ingest_tokens: serve needs at least one ingest token/,
    );
    await using first = await fx.start();
    await assert.rejects(fx.start(), /Another "blitz serve" is running/);
    assert.equal((await read(fetch(`${first.url}/healthz`))).status, 200);
  } finally {
    await smtp.close();
    await fx.project.cleanup();
    await none.cleanup();
  }
});

Deno.test("serve answers 503 with Retry-After over max_backlog and 429 per token over rate_limit", async () => {
  // Nothing listens on this SMTP port: every delivery fails and is retried, so the backlog only grows.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const fx = await fixture(`smtp://127.0.0.1:${deadPort}`, {
    max_backlog: 3,
    rate_limit: "1/m burst 6",
  });
  try {
    await using server = await fx.start();
    for (let i = 0; i < 3; i++) {
      assert.equal((await read(post(server, "t1", `{"n":${i}}`))).status, 202);
    }
    const full = await read(post(server, "t1", '{"n":3}'));
    assert.equal(full.status, 503);
    assert.match(String(full.body.error), /Backlog full/);
    assert.ok(Number(full.headers.get("retry-after")) >= 1);
    const health = await read(fetch(`${server.url}/healthz`));
    assert.equal(health.body.accepting, false);
    assert.equal(await metric(server, "blitz_backlog"), 3);
    // The other token has its own bucket: 6 requests pass the limiter (and meet the full backlog), the 7th is 429.
    const other = { authorization: `Bearer ${OLD_TOKEN}` };
    for (let i = 0; i < 6; i++) {
      assert.equal((await read(post(server, "t1", "{}", other))).status, 503);
    }
    const limited = await read(post(server, "t1", "{}", other));
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get("retry-after")) >= 1);
    assert.match(String(limited.body.error), /Rate limit/);
    assert.equal(
      await metric(
        server,
        'blitz_http_responses_total{route="/ingest",code="429"}',
      ),
      1,
    );
  } finally {
    await fx.project.cleanup();
  }
});

/** A TCP port that forwards to `target` while open and refuses connections while closed. */
class Gate {
  port: number;
  #target: number;
  #listener: Deno.Listener | undefined;
  #conns = new Set<Deno.Conn>();
  #pipes = new Set<Promise<unknown>>();

  constructor(target: number) {
    this.#target = target;
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.port = (probe.addr as Deno.NetAddr).port;
    probe.close();
  }

  open(): void {
    const listener = this.#listener = Deno.listen({
      hostname: "127.0.0.1",
      port: this.port,
    });
    const loop = (async () => {
      for await (const conn of listener) {
        const upstream = await Deno.connect({
          hostname: "127.0.0.1",
          port: this.#target,
        });
        this.#conns.add(conn).add(upstream);
        const pipe = Promise.allSettled([
          conn.readable.pipeTo(upstream.writable),
          upstream.readable.pipeTo(conn.writable),
        ]);
        this.#pipes.add(pipe);
      }
    })().catch(() => {});
    this.#pipes.add(loop);
  }

  async close(): Promise<void> {
    this.#listener?.close();
    this.#listener = undefined;
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch {
        // already closed by a pipe
      }
    }
    this.#conns.clear();
    await Promise.allSettled([...this.#pipes]);
    this.#pipes.clear();
  }
}

Deno.test("serve keeps alerts while SMTP is down and delivers them all once it is back", async () => {
  const smtp = await startSmtpServer();
  const gate = new Gate(smtp.port);
  const fx = await fixture(`smtp://127.0.0.1:${gate.port}`);
  try {
    await using server = await fx.start();
    const ids = (await read(
      post(
        server,
        "t1",
        JSON.stringify(Array.from({ length: 10 }, (_, n) => ({ n }))),
      ),
    )).body.ids as string[];
    assert.equal(ids.length, 10);
    await server.waitForLog((l) =>
      l.event === "delivery_retry" && l.alert_id === ids[9] &&
      Number(l.attempts) >= 2
    );
    assert.equal(smtp.messages.length, 0);
    gate.open();
    await smtp.waitFor(10, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(messageIds(smtp).map(idOf).sort(), [...ids].sort());
    let failedAttempts = 0;
    for (const id of ids) {
      const line = await server.waitForLog((l) =>
        l.event === "delivered" && l.alert_id === id
      );
      assert.ok(Number(line.attempts) >= 2, `attempts ${line.attempts}`);
      failedAttempts += Number(line.attempts) - 1;
    }
    // Every failed attempt is counted: the failures are exactly the attempts before each success.
    assert.equal(
      await metric(server, 'blitz_delivery_failures_total{detector="t1"}'),
      failedAttempts,
    );
  } finally {
    await gate.close();
    await smtp.close();
    await fx.project.cleanup();
  }
});

Deno.test("serve killed with SIGKILL mid-burst: after restart every accepted alert is delivered once", async () => {
  const smtp = await startSmtpServer();
  const workers = 4; // the duplicate bound below is one per worker
  const fx = await fixture(smtp.url, { workers });
  const total = 300;
  const acked = new Map<number, string>(); // alert number -> id from a 202
  try {
    const first = await fx.start();
    let next = 0;
    let killed = false;
    const sender = async () => {
      while (next < total && !killed) {
        const n = next++;
        try {
          const res = await read(
            post(first, "t1", JSON.stringify({ n: `kill-${n}` }), {
              "idempotency-key": `alert-${n}`,
            }),
          );
          if (res.status === 202) acked.set(n, (res.body.ids as string[])[0]!);
        } catch {
          // the server died under this request: no 202, the sender will retry it
        }
      }
    };
    const senders = Array.from({ length: 10 }, sender);
    await until(
      () => acked.size >= 100 && smtp.messages.length >= 20,
      "100 accepted and 20 delivered",
    );
    first.child.kill("SIGKILL");
    killed = true;
    const status = await first.stop("SIGKILL");
    assert.equal(status.signal, "SIGKILL");
    await Promise.all(senders);
    const ackedBeforeKill = new Map(acked);
    // What the store held at the moment of the kill.
    const db = new DatabaseSync(`${fx.project.dataDir}/blitz.db`, {
      readOnly: true,
    });
    const statusAtKill = new Map(
      db.prepare("SELECT id, status FROM alerts").all().map((row) =>
        [String(row.id), String(row.status)] as const
      ),
    );
    db.close();
    for (const id of ackedBeforeKill.values()) {
      assert.ok(
        statusAtKill.has(id),
        `alert ${id} got a 202 but is not in the store`,
      );
    }
    const mailsBeforeRestart = smtp.messages.length;
    assert.ok(mailsBeforeRestart < total, "the kill happened mid-burst");

    await using second = await fx.start();
    await second.waitForLog((l) => l.event === "listening");
    // The sender retries everything that got no 202, under the same Idempotency-Key.
    for (let n = 0; n < total; n++) {
      if (acked.has(n)) continue;
      const res = await read(
        post(second, "t1", JSON.stringify({ n: `kill-${n}` }), {
          "idempotency-key": `alert-${n}`,
        }),
      );
      assert.equal(res.status, 202);
      acked.set(n, (res.body.ids as string[])[0]!);
    }
    await until(
      () => new Set(messageIds(smtp)).size >= total,
      `${total} distinct mails`,
      60_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 500)); // a duplicate would arrive now

    const counts = new Map<string, number>();
    for (const id of messageIds(smtp).map(idOf)) {
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    const expected = new Set(acked.values());
    assert.equal(expected.size, total);
    for (const id of ackedBeforeKill.values()) {
      assert.ok(
        counts.has(id),
        `alert ${id} got a 202 before the kill but was never mailed`,
      );
    }
    for (const id of expected) {
      assert.ok(counts.has(id), `alert ${id} was never mailed`);
    }
    assert.equal(
      counts.size,
      total,
      "no mail for anything that was not accepted",
    );
    // SMTP cannot be exactly-once across a crash: a message the relay accepted in the instant before the
    // kill, before its record said "delivered", is sent again with the same Message-ID. Only those: at
    // most one per worker, and never one whose delivery was recorded (logged) before the kill.
    const twice = [...counts].filter(([, c]) => c > 1).map(([id]) => id);
    assert.ok(twice.length <= workers, `${twice.length} alerts mailed twice`);
    for (const id of twice) {
      assert.equal(
        statusAtKill.get(id),
        "processing",
        `${id} was re-sent although its delivery was recorded`,
      );
    }
    assert.ok([...counts.values()].every((c) => c <= 2));
    const listening = second.logs.find((l) => l.event === "listening");
    assert.ok(
      Number(listening?.requeued) <= 4,
      "only alerts in progress at the kill were left processing",
    );
    assert.ok(
      Number(listening?.backlog) > 0,
      "the restarted service found the unfinished backlog",
    );
  } finally {
    await smtp.close();
    await fx.project.cleanup();
  }
});
