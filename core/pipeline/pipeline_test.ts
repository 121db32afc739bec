import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { simpleParser } from "mailparser";
import { InputError } from "../errors.ts";
import {
  compose,
  detectorOf,
  ingestAlert,
  messageIdOf,
  parseAlert,
  preprocess,
  recipients,
  type Runtime,
  settingsFor,
} from "./pipeline.ts";
import { closeRuntime, createRuntime } from "../service/runtime.ts";
import { verifyActionToken } from "../auth/tokens.ts";
import { writeProject } from "../../tests/_config.ts";

const GOOD_PLUGINS =
  new URL("../../tests/fixtures/plugins/good", import.meta.url).pathname;
const PLUGIN_TS = new URL("../plugin.ts", import.meta.url).href;
// createRuntime() reads ${env:} from the process environment; these tests keep the process env untouched
// and give the signing key literally (which only adds a config warning).
const ACTION_KEY = { id: "k1", secret: "pipeline-test-signing-key-0123456789" };

type Project = Awaited<ReturnType<typeof writeProject>>;

async function withRuntime<T>(
  project: Project,
  fn: (
    runtime: Runtime,
    events: [string, Record<string, unknown>][],
  ) => Promise<T>,
  options: { io?: boolean; clock?: () => Date } = {},
): Promise<T> {
  const events: [string, Record<string, unknown>][] = [];
  const runtime = await createRuntime({
    configPath: project.config,
    log: (event, fields = {}) => events.push([event, fields]),
    ...options,
  });
  try {
    return await fn(runtime, events);
  } finally {
    await closeRuntime(runtime);
  }
}

function project(
  detectors: Record<string, Record<string, unknown>>,
  global: Record<string, unknown> = {},
  files: Record<string, string> = {},
) {
  return writeProject({
    global: {
      action_keys: [ACTION_KEY],
      plugin_dirs: [GOOD_PLUGINS],
      ...global,
    },
    detectors,
    files,
  });
}

const ALERT = {
  ip_src_addr: "192.0.2.10",
  user: { name: "alice" },
  host: "web-1",
  severity: "high",
};

Deno.test("ingestAlert() records the alert with its enrichments, actions, message and status", async () => {
  const p = await project({
    det: {
      subject: "Alert {ip_src_addr} on {host}",
      mail_title: "Title for {user.name}",
      include_json: true,
      enrichments: [
        {
          e_name: "Echo",
          e_func: "echo",
          e_key: "ip_src_addr",
          e_args: { who: "{user.name}" },
        },
        { e_name: "Broken", e_func: "always_fails" },
        { e_name: "Off", e_func: "echo", enabled: false },
      ],
      actions: {
        send: [["pass_to_mail", { return_name: "where", data: "{host}" }], [
          "stamp",
          { value: "{severity}" },
        ]],
      },
    },
  });
  try {
    await withRuntime(p, async (runtime) => {
      const summary = await ingestAlert(runtime, "det", ALERT);
      assert.equal(summary.sent, true);
      assert.equal(summary.detector, "det");
      assert.equal(summary.subject, "Alert 192.0.2.10 on web-1");
      assert.deepEqual(summary.enrichments.map((e) => [e.name, e.status]), [
        ["Echo", "ok"],
        ["Broken", "error"],
        ["Off", "skipped"],
      ]);
      assert.deepEqual(summary.actions, [
        { name: "pass_to_mail", status: "ok" },
        { name: "stamp", status: "ok" },
      ]);
      assert.equal(summary.delivery.status, "outbox");
      assert.equal(
        summary.delivery.path,
        `${p.dataDir}/outbox/${summary.alert_id}.eml`,
      );
      assert.equal(
        summary.delivery.message_id,
        `<${summary.alert_id}@127.0.0.1>`,
      );

      const record = (await runtime.store.getAlert(summary.alert_id))!;
      assert.equal(record.status, "delivered");
      assert.equal(record.attempts, 1);
      assert.deepEqual(record.alert, ALERT);
      assert.equal(record.subject, "Alert 192.0.2.10 on web-1");
      assert.deepEqual(record.enrichments![0]!.data, {
        params: { who: "alice" },
        args: ["192.0.2.10"],
        detector: "det",
        settings: {},
      });
      assert.equal(record.enrichments![1]!.status, "error");
      assert.match(record.enrichments![1]!.error!, /^backend exploded/);
      assert.deepEqual(
        record.actions!.map((a) => [a.name, a.status, a.value]),
        [
          ["pass_to_mail", "ok", "web-1"],
          ["stamp", "ok", { stamped: "high" }],
        ],
      );
      assert.equal(record.message!.subject, "Alert 192.0.2.10 on web-1");
      assert.equal(record.message!.message_id, summary.delivery.message_id);
      assert.match(record.message!.html, /Title for alice/);
      assert.match(
        record.message!.html,
        /backend exploded/,
        "the failed enrichment is a visible section",
      );
      assert.match(record.message!.text, /Echo/);
      assert.deepEqual(record.delivery, {
        status: "outbox",
        path: summary.delivery.path,
      });

      const mail = await simpleParser(
        Buffer.from(await Deno.readFile(summary.delivery.path!)),
      );
      assert.equal(mail.subject, "Alert 192.0.2.10 on web-1");
      assert.equal(mail.messageId, summary.delivery.message_id);
      assert.equal(mail.headers.get("x-blitz-alert-id"), summary.alert_id);
      assert.equal(mail.headers.get("x-blitz-detector"), "det");
      assert.match(mail.html || "", /web-1/);
      assert.match(mail.text ?? "", /192\.0\.2\.10/);
    });
  } finally {
    await p.cleanup();
  }
});

Deno.test("recipients() merges global and detector recipients, or overrides, without duplicates", async () => {
  const p = await project({
    merged: {
      mailers: {
        to: ["SOC@example.test", "ir@example.test", "ir@example.test"],
        cc: ["lead@example.test", "ir@example.test", "x@example.test"],
      },
    },
    overridden: {
      mailers: { override: true, to: "only@example.test", cc: [] },
    },
    none: {},
  }, { to: ["soc@example.test"], cc: ["lead@example.test"] });
  try {
    await withRuntime(p, async (runtime) => {
      const { config } = runtime;
      assert.deepEqual(recipients(config, detectorOf(config, "merged")), {
        to: ["soc@example.test", "ir@example.test"],
        cc: ["lead@example.test", "x@example.test"],
      });
      assert.deepEqual(recipients(config, detectorOf(config, "overridden")), {
        to: ["only@example.test"],
        cc: [],
      });
      assert.deepEqual(recipients(config, detectorOf(config, "none")), {
        to: ["soc@example.test"],
        cc: ["lead@example.test"],
      });
      const summary = await ingestAlert(runtime, "merged", ALERT);
      assert.deepEqual([summary.to, summary.cc], [[
        "soc@example.test",
        "ir@example.test",
      ], ["lead@example.test", "x@example.test"]]);
      const mail = await simpleParser(
        Buffer.from(await Deno.readFile(summary.delivery.path!)),
      );
      const to = Array.isArray(mail.to) ? mail.to : [mail.to!];
      assert.deepEqual(
        to.flatMap((group) => group.value.map((a) => a.address)),
        ["soc@example.test", "ir@example.test"],
      );
      const record = (await runtime.store.getAlert(summary.alert_id))!;
      assert.deepEqual([record.to, record.cc], [summary.to, summary.cc]);
    });
  } finally {
    await p.cleanup();
  }
});

Deno.test("compose() chains pass_to_mail values by return_name into later steps and the subject", async () => {
  const p = await project({
    chain: {
      subject: "Alert {label} for {who}",
      actions: {
        send: [
          ["pass_to_mail", { return_name: "who", data: "{user.name}@{host}" }],
          ["pass_to_mail", { return_name: "label", data: "[{who}]" }],
          ["pass_to_mail", {
            return_name: "off",
            data: "never",
            enabled: false,
          }],
        ],
      },
    },
  });
  try {
    await withRuntime(p, async (runtime) => {
      const summary = await ingestAlert(runtime, "chain", ALERT);
      assert.equal(summary.subject, "Alert [alice@web-1] for alice@web-1");
      const record = (await runtime.store.getAlert(summary.alert_id))!;
      assert.deepEqual(record.actions, [
        {
          name: "pass_to_mail",
          status: "ok",
          return_name: "who",
          value: "alice@web-1",
          ms: record.actions![0]!.ms,
        },
        {
          name: "pass_to_mail",
          status: "ok",
          return_name: "label",
          value: "[alice@web-1]",
          ms: record.actions![1]!.ms,
        },
        { name: "pass_to_mail", status: "skipped", return_name: "off" },
      ]);
      assert.match(
        record.message!.text,
        /alice@web-1/,
        "pass_to_mail values are shown in the email",
      );
      // Single pass: alert values that look like placeholders stay literal in the subject.
      const tricky = await ingestAlert(runtime, "chain", {
        ...ALERT,
        user: { name: "{label}" },
        host: "\r\nBcc: evil@evil.test",
      });
      assert.equal(
        tricky.subject,
        "Alert [{label}@ Bcc: evil@evil.test] for {label}@ Bcc: evil@evil.test",
      );
    });
  } finally {
    await p.cleanup();
  }
});

Deno.test("compose() with sideEffects false (render) skips side-effect actions and keeps pass_to_mail", async () => {
  const p = await project({
    det: {
      subject: "S {v}",
      actions: {
        send: [["stamp", { value: "{severity}" }], ["pass_to_mail", {
          return_name: "v",
          data: "{host}",
        }]],
      },
    },
  });
  try {
    await withRuntime(p, async (runtime) => {
      const detector = detectorOf(runtime.config, "det");
      const input = {
        detector,
        alert: ALERT,
        alertId: "01a222b4-0000-7000-8000-000000000001",
        receivedAt: new Date(0).toISOString(),
      };
      const rendered = await compose(runtime, input, { sideEffects: false });
      assert.deepEqual(
        rendered.actions.map((a) => [a.name, a.status, a.error]),
        [
          ["stamp", "skipped", "not run: has side effects"],
          ["pass_to_mail", "ok", undefined],
        ],
      );
      assert.equal(rendered.message.subject, "S web-1");
      const full = await compose(runtime, input);
      assert.deepEqual(full.actions.map((a) => [a.name, a.status]), [[
        "stamp",
        "ok",
      ], ["pass_to_mail", "ok"]]);
    }, { io: false });
    assert.deepEqual(
      [...Deno.readDirSync(p.dataDir)],
      [],
      "io: false opens no store and writes no outbox",
    );
  } finally {
    await p.cleanup();
  }
});

Deno.test("compose() links reply buttons to {public_url}/actions/<signed token>", async () => {
  const p = await project({
    det: {
      actions: {
        reply: [["Block IP", {
          color: "red",
          actions: [["pass_to_mail", { data: "{ip_src_addr}" }]],
        }]],
      },
    },
  }, { public_url: "https://blitz.example.test/base/", action_link_ttl: "1h" });
  try {
    const now = new Date("2026-01-02T03:04:05Z");
    await withRuntime(p, async (runtime) => {
      const alertId = "01a222b4-0000-7000-8000-000000000002";
      const detector = detectorOf(runtime.config, "det");
      const { message } = await compose(runtime, {
        detector,
        alert: ALERT,
        alertId,
        receivedAt: now.toISOString(),
      });
      const hrefs = [...message.html.matchAll(/href="([^"]+)"/g)].map((m) =>
        m[1]!
      );
      const links = hrefs.filter((h) =>
        h.startsWith("https://blitz.example.test/base/actions/")
      );
      assert.equal(links.length, 1, hrefs.join("\n"));
      const token = links[0]!.slice(
        "https://blitz.example.test/base/actions/".length,
      );
      const claims = await verifyActionToken(token, [ACTION_KEY], {
        now: now.getTime(),
      });
      assert.equal(claims.alertId, alertId);
      assert.equal(claims.button, 0);
      assert.equal(claims.kid, "k1");
      assert.equal(claims.expiresAt, now.getTime() + 3_600_000);
      assert.equal(message.message_id, messageIdOf(runtime.config, alertId));
      assert.equal(message.message_id, `<${alertId}@blitz.example.test>`);
    }, { io: false, clock: () => now });
  } finally {
    await p.cleanup();
  }
});

Deno.test("ingestAlert() applies the detector module's preprocess exactly once", async () => {
  const p = await project(
    { pre: { subject: "{ip_src_addr} hops={hops}" } },
    {},
    {
      "detectors/pre.ts": `import { defineDetector } from "${PLUGIN_TS}";
export default defineDetector({
  name: "pre",
  preprocess: (alert) => ({ ...alert, ip_src_addr: String(alert.src), hops: Number(alert.hops ?? 0) + 1 }),
});
`,
    },
  );
  try {
    await withRuntime(p, async (runtime) => {
      const summary = await ingestAlert(runtime, "pre", { src: "203.0.113.9" });
      assert.equal(summary.subject, "203.0.113.9 hops=1");
      const record = (await runtime.store.getAlert(summary.alert_id))!;
      assert.deepEqual(
        record.alert,
        { src: "203.0.113.9" },
        "the record keeps the alert as received",
      );
      const detector = detectorOf(runtime.config, "pre");
      await assert.rejects(
        async () =>
          await preprocess({
            ...detector,
            module: { name: "pre", preprocess: () => [] as never },
          }, {}),
        (err: Error) =>
          err instanceof InputError &&
          /Preprocessed alert of pre must be a JSON object, not an array/.test(
            err.message,
          ),
      );
    });
  } finally {
    await p.cleanup();
  }
});

Deno.test("detectorOf() names the known detectors for an unknown one", async () => {
  const p = await project({ alpha: {}, beta: {} });
  try {
    await withRuntime(p, (runtime) => {
      assert.throws(
        () => detectorOf(runtime.config, "gamma"),
        (err: Error) =>
          err instanceof InputError &&
          err.message === 'Unknown detector "gamma" (known: alpha, beta)',
      );
      return Promise.resolve();
    }, { io: false });
  } finally {
    await p.cleanup();
  }
});

Deno.test("parseAlert() accepts one JSON object and rejects anything else with InputError", () => {
  assert.deepEqual(parseAlert('{"a": {"b": 1}}'), { a: { b: 1 } });
  const rejects = (text: string, message: RegExp) =>
    assert.throws(
      () => parseAlert(text, 3),
      (err: Error) => err instanceof InputError && message.test(err.message),
    );
  rejects("", /^Empty input/);
  rejects("{not json", /^Invalid JSON: /);
  rejects("[1, 2]", /^Alert must be a JSON object, not an array$/);
  rejects("null", /^Alert must be a JSON object, not null$/);
  rejects('"text"', /^Alert must be a JSON object, not string$/);
  rejects('{"a": {"b": {"c": {}}}}', /^Alert is nested deeper than 3 levels$/);
  assert.deepEqual(parseAlert('{"a": {"b": {"c": 1}}}', 3), {
    a: { b: { c: 1 } },
  });
});

Deno.test("compose() hands a plugin the shareable config its reads declares, and nothing else", async () => {
  const echo = (reads: string) =>
    `export default { name: "${
      reads ? "reader" : "plain"
    }", ${reads} run: (_params, ctx) => ctx.settings };\n`;
  const p = await project(
    {
      det: {
        enrichments: [
          { e_name: "Reader", e_func: "reader" },
          { e_name: "Plain", e_func: "plain" },
        ],
      },
    },
    {
      plugin_dirs: ["plugins"],
      databases: { siem: "mysql://blitz@127.0.0.1:3306/siem" },
      plugins: { reader: { region: "eu" } },
    },
    {
      "plugins/reader.ts": echo(`reads: { global: ["databases"] },`),
      "plugins/plain.ts": echo(""),
    },
  );
  try {
    await withRuntime(p, async (runtime) => {
      const summary = await ingestAlert(runtime, "det", ALERT);
      const record = (await runtime.store.getAlert(summary.alert_id))!;
      const data = (name: string) =>
        record.enrichments!.find((e) => e.name === name)!.data;
      assert.deepEqual(data("Reader"), {
        databases: { siem: "mysql://blitz@127.0.0.1:3306/siem" },
        region: "eu",
      });
      assert.deepEqual(data("Plain"), {}, "no reads, no shared config");
    });
  } finally {
    await p.cleanup();
  }
});

Deno.test("settingsFor() gives the detector's custom_enrichment_data to a plugin that reads it; plugins.<name> wins", async () => {
  const queries = [{
    index: "logs-*",
    es_host: "http://127.0.0.1:9200",
    query_data: [{ url: "/||list_indexes||/_search", query: "{}" }],
  }];
  const p = await project({
    det: { custom_enrichment_data: queries },
  }, { plugins: { es_like: { databases: "mine" } } });
  try {
    await withRuntime(p, (runtime) => {
      const detector = detectorOf(runtime.config, "det");
      const reads = {
        detector: ["custom_enrichment_data" as const],
        global: ["databases" as const],
      };
      const settings = settingsFor(runtime.config, detector, {
        name: "es_like",
        reads,
      });
      assert.deepEqual(
        (settings.custom_enrichment_data as { index: string }[])[0]!.index,
        "logs-*",
      );
      assert.equal(settings.databases, "mine", "plugins.<name> wins a clash");
      assert.deepEqual(
        settingsFor(runtime.config, detector, { name: "other" }),
        {},
      );
      return Promise.resolve();
    }, { io: false });
  } finally {
    await p.cleanup();
  }
});

Deno.test("ingestAlert() names the placeholders it left unfilled in the alert's log line", async () => {
  const p = await project({
    det: {
      subject: "{signature|Unknown signature} from {src_ip} on {host}",
      actions: {
        send: [["pass_to_mail", { return_name: "r", data: "{user.nope}" }]],
        reply: [["Block {src_ip}", {
          actions: [["pass_to_mail", { data: "x" }]],
        }]],
      },
    },
  });
  try {
    await withRuntime(p, async (runtime, events) => {
      const summary = await ingestAlert(runtime, "det", ALERT);
      assert.equal(
        summary.subject,
        "Unknown signature from {src_ip} on web-1",
      );
      const delivered = events.find(([e]) => e === "delivered")?.[1];
      assert.equal(
        delivered?.unfilled,
        'action "pass_to_mail": {user.nope}; subject: {src_ip}; actions.reply[0]: {src_ip}',
      );
    });
  } finally {
    await p.cleanup();
  }
});

Deno.test("ingestAlert() maps severity: {severity} in the subject, CEL severity, badge and text, on the record", async () => {
  const p = await project({
    det: {
      subject: "[{severity}] {host}",
      severity: {
        field: "level",
        ranges: [{ min: 10, level: "critical" }, { min: 5, level: "high" }],
        default: "low",
      },
      key_fields: { Host: "{host}", User: "{user.name}", Port: "{port|}" },
      enrichment_conditional: true,
      enrichments: {
        'severity == "low"': [{ e_name: "Low echo", e_func: "echo" }],
        'severity == "high" && alert.host == "web-1"': [
          { e_name: "High echo", e_func: "echo" },
          { e_name: "Off", e_func: "echo", enabled: false },
        ],
      },
    },
  });
  try {
    await withRuntime(p, async (runtime) => {
      const summary = await ingestAlert(runtime, "det", { ...ALERT, level: 7 });
      assert.equal(summary.subject, "[high] web-1");
      assert.deepEqual(summary.enrichments.map((e) => e.name), [
        "High echo",
        "Off",
      ]);
      const record = (await runtime.store.getAlert(summary.alert_id))!;
      assert.equal(record.severity, "high");
      assert.equal(
        record.condition,
        'severity == "high" && alert.host == "web-1"',
      );
      const { html, text } = record.message!;
      const top = html.slice(0, html.indexOf("Enrichments"));
      assert.match(top, />HIGH</, "the badge is at the top");
      assert.match(top, /Host<\/td><td[^>]*>web-1</);
      assert.match(top, /User<\/td><td[^>]*>alice</);
      assert.doesNotMatch(top, />Port</, "an empty key field is left out");
      assert.match(top, /\[high\] web-1/, "the subject line is in the body");
      assert.ok(top.includes("severity == &quot;high&quot;"));
      assert.match(text, /^Severity: +HIGH$/m);
      assert.match(text, /^Host: +web-1$/m);
      assert.match(text, /^Condition: +severity == "high"/m);
      assert.match(text, /Not run \(their condition did not match\): Low echo/);
      assert.ok(!html.includes(">Off<") && !/^Off /m.test(text));
      assert.equal(record.message!.headers?.["X-Blitz-Severity"], "high");
    });
  } finally {
    await p.cleanup();
  }
});

Deno.test("ingestAlert() threads a later alert with the same thread_key onto the earlier ones, resolved in its subject", async () => {
  const p = await project({
    det: { subject: "{alertname} on {instance}", thread_key: ["fingerprint"] },
  });
  try {
    await withRuntime(p, async (runtime) => {
      const firing = {
        status: "firing",
        alertname: "HighCPU",
        instance: "node-1",
        fingerprint: "a1b2",
      };
      const first = await ingestAlert(runtime, "det", firing);
      const other = await ingestAlert(runtime, "det", {
        ...firing,
        fingerprint: "ffff",
      });
      const resolved = await ingestAlert(runtime, "det", {
        ...firing,
        status: "resolved",
      });
      const parse = async (path: string) =>
        await simpleParser(Buffer.from(await Deno.readFile(path)));
      const mail = await parse(resolved.delivery.path!);
      assert.equal(mail.subject, "Resolved: HighCPU on node-1");
      assert.equal(mail.inReplyTo, first.delivery.message_id);
      assert.equal(mail.references, first.delivery.message_id);
      const unrelated = await parse(other.delivery.path!);
      assert.equal(unrelated.inReplyTo, undefined, "another fingerprint");
      const firstMail = await parse(first.delivery.path!);
      assert.equal(firstMail.inReplyTo, undefined);
      const record = (await runtime.store.getAlert(resolved.alert_id))!;
      assert.equal(
        record.thread_key,
        (await runtime.store.getAlert(first.alert_id))!.thread_key,
      );
    });
  } finally {
    await p.cleanup();
  }
});
