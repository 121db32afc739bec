import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { simpleParser } from "mailparser";
import { compileCondition } from "./conditions.ts";
import { ingestAlert } from "../pipeline/pipeline.ts";
import { closeRuntime, createRuntime } from "../service/runtime.ts";
import { writeProject } from "../../tests/_config.ts";

const GOOD_PLUGINS =
  new URL("../../tests/fixtures/plugins/good", import.meta.url).pathname;

Deno.test("compileCondition() evaluates CEL over alert", () => {
  const condition = compileCondition(
    'alert.severity == "high" && alert.ip_src_addr.startsWith("10.")',
  );
  assert.equal(
    condition.source,
    'alert.severity == "high" && alert.ip_src_addr.startsWith("10.")',
  );
  assert.equal(
    condition.matches({ severity: "high", ip_src_addr: "10.1.2.3" }),
    true,
  );
  assert.equal(
    condition.matches({ severity: "high", ip_src_addr: "192.0.2.1" }),
    false,
  );
  assert.equal(
    condition.matches({ severity: "low", ip_src_addr: "10.1.2.3" }),
    false,
  );
  assert.equal(
    compileCondition("alert.count > 100").matches({ count: 312 }),
    true,
  );
  assert.equal(
    compileCondition('has(alert.user) && alert.user.name == "alice"').matches({
      user: { name: "alice" },
    }),
    true,
  );
  assert.equal(compileCondition("has(alert.user)").matches({}), false);
});

Deno.test("compileCondition() rejects invalid and non-bool expressions with SyntaxError", () => {
  assert.throws(
    () => compileCondition("alert.severity =="),
    (err: Error) =>
      err instanceof SyntaxError &&
      /^Invalid CEL condition: /.test(err.message),
  );
  assert.throws(
    () => compileCondition('"text"'),
    /Invalid CEL condition: must be a bool expression, not string/,
  );
  assert.throws(
    () => compileCondition("severity == 1"),
    /Invalid CEL condition/,
    "only alert is a variable",
  );
});

Deno.test("compileCondition() matches() throws at run time on a missing key (the pipeline counts it as no match)", () => {
  const condition = compileCondition('alert.missing == "x"');
  assert.throws(() => condition.matches({ other: 1 }));
  assert.throws(
    () => compileCondition("alert.flag").matches({ flag: "yes" }),
    /not a bool/,
  );
});

/** A project whose detector `cond` has two conditional blocks, each running `echo` with its block's name. */
async function conditionalProject(
  sendWhenNoMatch: boolean,
  blocks?: Record<string, string>,
) {
  const enrichments = Object.fromEntries(
    Object.entries(
      blocks ??
        { 'alert.severity == "high"': "A", 'alert.ip.startsWith("10.")': "B" },
    ).map(([source, name]) => [
      source,
      [{ e_name: `Block ${name}`, e_func: "echo", e_args: { block: name } }],
    ]),
  );
  return await writeProject({
    global: { action_keys: undefined, plugin_dirs: [GOOD_PLUGINS] },
    detectors: {
      cond: {
        subject: "Alert {ip}",
        enrichment_conditional: true,
        enrichments,
        send_mail_no_condition_match: sendWhenNoMatch,
      },
    },
  });
}

async function ingest(
  project: Awaited<ReturnType<typeof writeProject>>,
  alert: Record<string, unknown>,
) {
  const events: [string, Record<string, unknown>][] = [];
  const runtime = await createRuntime({
    configPath: project.config,
    log: (event, fields = {}) => events.push([event, fields]),
  });
  try {
    const summary = await ingestAlert(runtime, "cond", alert);
    const record = (await runtime.store.getAlert(summary.alert_id))!;
    return { summary, record, events };
  } finally {
    await closeRuntime(runtime);
  }
}

Deno.test("ingestAlert() runs only the first matching condition block", async () => {
  const project = await conditionalProject(false);
  try {
    const { summary, record } = await ingest(project, {
      severity: "high",
      ip: "10.0.0.1",
    });
    assert.deepEqual(summary.enrichments.map((e) => e.name), ["Block A"]);
    assert.equal(record.condition, 'alert.severity == "high"');
    assert.deepEqual(record.enrichments![0]!.data, {
      params: { block: "A" },
      args: [],
      detector: "cond",
      settings: {},
    });
    const second = await ingest(project, { severity: "low", ip: "10.0.0.1" });
    assert.deepEqual(second.summary.enrichments.map((e) => e.name), [
      "Block B",
    ]);
    assert.equal(second.record.condition, 'alert.ip.startsWith("10.")');
    assert.equal(second.summary.sent, true);
  } finally {
    await project.cleanup();
  }
});

Deno.test("ingestAlert() does not send when no condition matches and send_mail_no_condition_match is false", async () => {
  const project = await conditionalProject(false);
  try {
    const { summary, record } = await ingest(project, {
      severity: "low",
      ip: "192.0.2.1",
    });
    assert.equal(summary.sent, false);
    assert.equal(summary.delivery.status, "skipped");
    assert.deepEqual(summary.enrichments, []);
    assert.equal(record.status, "not_sent");
    assert.equal(record.condition, null);
    assert.match(
      record.message!.text,
      /No enrichment condition matched/,
      "the composed message is kept for the record",
    );
    const outbox = [...Deno.readDirSync(project.dataDir)].map((e) => e.name);
    assert.ok(
      !outbox.includes("outbox") ||
        [...Deno.readDirSync(`${project.dataDir}/outbox`)].length === 0,
      "nothing delivered",
    );
  } finally {
    await project.cleanup();
  }
});

Deno.test("ingestAlert() sends with a note when no condition matches and send_mail_no_condition_match is true", async () => {
  const project = await conditionalProject(true);
  try {
    const { summary, record } = await ingest(project, {
      severity: "low",
      ip: "192.0.2.1",
    });
    assert.equal(summary.sent, true);
    assert.equal(record.status, "delivered");
    assert.deepEqual(summary.enrichments, []);
    assert.match(record.message!.html, /No enrichment condition matched/);
    assert.match(record.message!.text, /No enrichment condition matched/);
    const mail = await simpleParser(
      Buffer.from(await Deno.readFile(summary.delivery.path!)),
    );
    assert.match(
      mail.text ?? "",
      /No enrichment condition matched/,
      "the delivered message says so",
    );
  } finally {
    await project.cleanup();
  }
});

Deno.test("ingestAlert() counts a condition that fails at run time as no match and logs it", async () => {
  const project = await conditionalProject(false, {
    'alert.user.name == "alice"': "A",
    "true": "B",
  });
  try {
    const { summary, events } = await ingest(project, { ip: "10.0.0.1" });
    assert.deepEqual(
      summary.enrichments.map((e) => e.name),
      ["Block B"],
      "the next block is tried",
    );
    const logged = events.filter(([event]) => event === "condition_error");
    assert.equal(logged.length, 1);
    assert.equal(logged[0]![1].condition, 'alert.user.name == "alice"');
    assert.equal(logged[0]![1].detector, "cond");
    assert.equal(logged[0]![1].alert_id, summary.alert_id);
    assert.equal(typeof logged[0]![1].error, "string");
    // The erroring block alone: no match, not sent (exit 0 at the CLI), still logged.
    const only = await conditionalProject(false, {
      'alert.user.name == "alice"': "A",
    });
    try {
      const result = await ingest(only, { ip: "10.0.0.1" });
      assert.equal(result.record.status, "not_sent");
      assert.equal(
        result.events.filter(([event]) => event === "condition_error").length,
        1,
      );
    } finally {
      await only.cleanup();
    }
  } finally {
    await project.cleanup();
  }
});

Deno.test("ingestAlert() sends a detector with enrichment: false without evaluating its conditions", async () => {
  const project = await writeProject({
    global: { action_keys: undefined, plugin_dirs: [GOOD_PLUGINS] },
    detectors: {
      cond: {
        enrichment: false,
        enrichment_conditional: true,
        send_mail_no_condition_match: false,
        enrichments: {
          'alert.severity == "high"': [{ e_name: "Echo", e_func: "echo" }],
        },
      },
    },
  });
  try {
    const { summary, record } = await ingest(project, { severity: "low" });
    assert.equal(summary.sent, true);
    assert.deepEqual(summary.enrichments, []);
    assert.equal(record.status, "delivered");
    assert.doesNotMatch(
      record.message!.text,
      /No enrichment condition matched/,
    );
  } finally {
    await project.cleanup();
  }
});
