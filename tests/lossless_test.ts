/**
 * Evidence is not altered: integers above 2^53 (Falco `evt.time`, Suricata `flow_id`) arrive through the
 * CLI (`ingest` as a child process) and HTTP (`POST /ingest/:detector` on the app), and are stored, shown
 * on the alert page and mailed digit for digit.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { Buffer } from "node:buffer";
import { simpleParser } from "mailparser";
import { writeProject } from "./_config.ts";
import { runTask } from "./_task.ts";
import { ingestRequest } from "./_ingest.ts";
import { createApp } from "../routes/app.ts";
import { Metrics } from "../core/service/metrics.ts";
import { Queue } from "../core/service/queue.ts";
import { closeRuntime, createRuntime } from "../core/service/runtime.ts";

const EVT_TIME = "1685022245478445995"; // as a double: 1685022245478446000
const FLOW_ID = "2251799813685249123";
const ALERT = `{"output":"Shell spawned","priority":"Warning",` +
  `"output_fields":{"evt.time":${EVT_TIME},"proc.cmdline":"bash -i"},` +
  `"flow_id":${FLOW_ID},"ratio":0.25,"small":42}`;

const DETECTOR = {
  subject: "{output} at {output_fields.evt.time}",
  include_json: true,
  enrichments: [],
};

Deno.test("ingest (CLI) stores, mails and summarises integers above 2^53 exactly", async () => {
  const project = await writeProject({ detectors: { falco: DETECTOR } });
  try {
    const run = await runTask("ingest", ["falco", "--config", project.config], {
      cwd: project.dir,
      env: project.env,
      stdin: ALERT,
    });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.stdout.includes(`"subject":"Shell spawned at ${EVT_TIME}"`));
    const db = new DatabaseSync(`${project.dataDir}/blitz.db`);
    try {
      const row = db.prepare("SELECT alert_json FROM alerts").get() as {
        alert_json: string;
      };
      assert.ok(row.alert_json.includes(`"evt.time":${EVT_TIME}`));
      assert.ok(row.alert_json.includes(`"flow_id":${FLOW_ID}`));
      assert.ok(row.alert_json.includes(`"ratio":0.25,"small":42`));
    } finally {
      db.close();
    }
    const summary = JSON.parse(run.stdout) as { delivery: { path: string } };
    const mail = await simpleParser(
      Buffer.from(await Deno.readFile(summary.delivery.path)),
    );
    const body = `${mail.text}\n${mail.html}`;
    assert.ok(
      body.includes(`"evt.time": ${EVT_TIME}`),
      "the alert JSON, exact",
    );
    assert.ok(body.includes(`"flow_id": ${FLOW_ID}`));
    assert.ok(!body.includes("1685022245478446000"), "no rounded copy");
  } finally {
    await project.cleanup();
  }
});

Deno.test("POST /ingest stores integers above 2^53 exactly and the alert page shows them", async () => {
  const token = "lossless-test-token-0123456789";
  const project = await writeProject({
    global: {
      ingest_tokens: [token],
      ui_auth: { trusted_header: "X-Forwarded-User" },
      trusted_proxies: ["127.0.0.1/32"],
    },
    detectors: { falco: DETECTOR },
  });
  const runtime = await createRuntime({
    configPath: project.config,
    env: (name) => project.env[name],
    log: () => {},
  });
  const queue = new Queue(runtime);
  try {
    await queue.start(0);
    const app = createApp({ runtime, queue, metrics: new Metrics() });
    const ndjson = `${ALERT}\n${ALERT.replace(FLOW_ID, "-9007199254740993")}\n`;
    const res = await app.request(
      "/ingest/falco",
      ingestRequest(token, ndjson, { "content-type": "application/x-ndjson" }),
    );
    assert.equal(res.status, 202);
    const { ids } = await res.json() as { ids: string[] };
    const first = (await runtime.store.getAlert(ids[0]!))!;
    const fields = first.alert.output_fields as Record<string, unknown>;
    assert.equal(fields["evt.time"], BigInt(EVT_TIME));
    assert.equal(first.alert.flow_id, BigInt(FLOW_ID));
    assert.equal(first.alert.small, 42, "safe integers stay numbers");
    const second = (await runtime.store.getAlert(ids[1]!))!;
    assert.equal(second.alert.flow_id, -9007199254740993n);
    const page = await app.request(`/alerts/${ids[0]}`, {
      headers: { "x-forwarded-user": "carol" },
    }, { remoteAddr: { hostname: "127.0.0.1" } }); // the sign-in proxy
    const html = await page.text();
    assert.equal(page.status, 200, html);
    assert.ok(html.includes(EVT_TIME), "the page shows the sender's digits");
    assert.ok(!html.includes("1685022245478446000"));
  } finally {
    await queue.stop();
    await closeRuntime(runtime);
    await project.cleanup();
  }
});
