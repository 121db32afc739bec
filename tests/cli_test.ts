/**
 * The CLI as a child process, run with exactly the permission flags of its `deno task` (read from
 * deno.json at test time, so these tests follow the tasks). Each child runs with its working directory
 * at a temp project, so the tasks' `--allow-write=./data` covers the project's `data/` unchanged.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { stringify } from "yaml";
import { type TestProject, writeProject } from "./_config.ts";
import { startDnsServer } from "./_dns.ts";
import {
  ROOT,
  type RunOptions,
  runTask,
  type TaskRun as Run,
} from "./_task.ts";

const GOOD_PLUGINS = `${ROOT}/tests/fixtures/plugins/good`;
const PLUGIN_TS = new URL("../core/plugin.ts", import.meta.url).href;
const DECODER = new TextDecoder();

/** Runs `deno task <task> <args>` the way the task does, from `cwd`, with `stdin` piped in. */
function cli(
  task: "ingest" | "render" | "check",
  args: string[],
  options: RunOptions,
): Promise<Run> {
  return runTask(task, args, options);
}

/** Runs `deno task <task> <args> --config <project's config>` from the project, with its env. */
function cliIn(
  project: TestProject,
  task: "ingest" | "render" | "check",
  args: string[],
  stdin = "",
): Promise<Run> {
  return cli(task, [...args, "--config", project.config], {
    cwd: project.dir,
    env: project.env,
    stdin,
  });
}

function show(run: Run): string {
  return `exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}

/** The one JSON line of `ingest`, checked for the documented keys. */
function summaryOf(
  run: Run,
): Record<string, unknown> & {
  delivery: Record<string, unknown>;
  alert_id: string;
} {
  const lines = run.stdout.split("\n").filter((line) => line !== "");
  assert.equal(
    lines.length,
    1,
    `stdout must be exactly one line\n${show(run)}`,
  );
  assert.ok(run.stdout.endsWith("\n"));
  const summary = JSON.parse(lines[0]!);
  assert.deepEqual(Object.keys(summary), [
    "alert_id",
    "detector",
    "sent",
    "subject",
    "to",
    "cc",
    "enrichments",
    "actions",
    "delivery",
  ]);
  for (const e of summary.enrichments) {
    assert.deepEqual(Object.keys(e), ["name", "status", "ms"]);
    assert.ok(["ok", "error", "timeout", "skipped"].includes(e.status));
  }
  for (const a of summary.actions) {
    assert.deepEqual(Object.keys(a), ["name", "status"]);
  }
  assert.equal(typeof summary.delivery.status, "string");
  assert.equal(typeof summary.delivery.message_id, "string");
  return summary;
}

/** stderr holds exactly one line, an `error: …`. */
function oneError(run: Run): string {
  const lines = run.stderr.split("\n").filter((line) => line !== "");
  assert.equal(lines.length, 1, `stderr must be one message\n${show(run)}`);
  assert.ok(lines[0]!.startsWith("error: "), show(run));
  return lines[0]!;
}

function rows(dataDir: string): Record<string, unknown>[] {
  const db = new DatabaseSync(`${dataDir}/blitz.db`, { readOnly: true });
  try {
    return db.prepare("SELECT * FROM alerts ORDER BY received_at")
      .all() as Record<string, unknown>[];
  } finally {
    db.close();
  }
}

function list(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
}

const ALERT = JSON.stringify({
  ip_src_addr: "192.0.2.10",
  host: "web-1",
  severity: "high",
});

function basicProject(
  global: Record<string, unknown> = {},
  detectors?: Record<string, Record<string, unknown>>,
) {
  return writeProject({
    global: { plugin_dirs: [GOOD_PLUGINS], ...global },
    detectors: detectors ?? {
      det: {
        subject: "Alert {ip_src_addr} on {host}",
        enrichments: [{ e_name: "Echo", e_func: "echo", e_key: "ip_src_addr" }],
        actions: {
          send: [["pass_to_mail", { return_name: "where", data: "{host}" }], [
            "stamp",
            { value: "stamped-{severity}" },
          ]],
          reply: [["Block", {
            color: "red",
            actions: [["pass_to_mail", { data: "{ip_src_addr}" }]],
          }]],
        },
      },
    },
  });
}

Deno.test("ingest prints one JSON summary line, writes the outbox and records the alert (exit 0)", async () => {
  const project = await basicProject();
  try {
    const run = await cliIn(project, "ingest", ["det"], ALERT);
    assert.equal(run.code, 0, show(run));
    const summary = summaryOf(run);
    assert.equal(summary.detector, "det");
    assert.equal(summary.sent, true);
    assert.equal(summary.subject, "Alert 192.0.2.10 on web-1");
    assert.deepEqual(summary.to, ["soc@example.test"]);
    assert.deepEqual(summary.cc, []);
    assert.deepEqual(summary.actions, [{ name: "pass_to_mail", status: "ok" }, {
      name: "stamp",
      status: "ok",
    }]);
    assert.deepEqual(
      (summary.enrichments as { status: string }[]).map((e) => e.status),
      ["ok"],
    );
    assert.deepEqual(summary.delivery, {
      status: "outbox",
      message_id: `<${summary.alert_id}@127.0.0.1>`,
      path: `${project.dataDir}/outbox/${summary.alert_id}.eml`,
    });
    const eml = await Deno.readTextFile(summary.delivery.path as string);
    assert.match(eml, /^Subject: Alert 192\.0\.2\.10 on web-1\r$/m);
    assert.match(
      eml,
      new RegExp(`^Message-ID: <${summary.alert_id}@127\\.0\\.0\\.1>\\r$`, "m"),
    );
    const [row] = rows(project.dataDir);
    assert.equal(row!.id, summary.alert_id);
    assert.equal(row!.status, "delivered");
    assert.deepEqual(JSON.parse(row!.alert_json as string), JSON.parse(ALERT));
    for (const line of run.stderr.split("\n").filter(Boolean)) {
      assert.match(line, /^blitz: /, "stderr has short progress lines");
    }
    assert.doesNotMatch(
      run.stderr + run.stdout + eml,
      new RegExp(project.env.BLITZ_ACTION_KEY!),
      "the signing key never leaks",
    );
  } finally {
    await project.cleanup();
  }
});

Deno.test("ingest reads an alert of several stdin chunks, with a leading byte order mark, byte for byte", async () => {
  const project = await basicProject();
  try {
    // ~300 KB: several reads of the 64 KiB buffer; non-ASCII characters split across chunk edges.
    const alert = {
      ip_src_addr: "192.0.2.10",
      host: "web-1",
      log: Array.from({ length: 40_000 }, (_, i) => `zürich-${i}-ß`).join(" "),
    };
    const run = await cliIn(
      project,
      "ingest",
      ["det"],
      "\ufeff" + JSON.stringify(alert),
    );
    assert.equal(run.code, 0, show(run));
    const [row] = rows(project.dataDir);
    assert.deepEqual(JSON.parse(row!.alert_json as string), alert);
  } finally {
    await project.cleanup();
  }
});

Deno.test("fail() turns Deno's missing-package error (runtime tasks use --node-modules-dir=manual) into an install hint, exit 2", async () => {
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    // The error Deno raises when a --node-modules-dir=manual process imports a package not installed.
    await Deno.writeTextFile(
      script,
      `import { fail } from ${
        JSON.stringify(new URL("../main.ts", import.meta.url).href)
      };
Deno.exit(fail(new TypeError("Could not find a matching package for 'npm:zod@4.6.7' in the node_modules directory. Ensure you have all your JSR and npm dependencies listed in your deno.json or package.json, then run \`deno install\`.")));`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 2);
    assert.equal(
      DECODER.decode(out.stderr),
      "error: the npm dependencies are not installed in this checkout: run `deno install --frozen` here (once, and after every upgrade)\n",
    );
  } finally {
    await Deno.remove(script);
  }
});

Deno.test("ingest finds ./blitz.yaml in the working directory, or the file named by BLITZ_CONFIG", async () => {
  const project = await basicProject();
  try {
    const local = await cli("ingest", ["det"], {
      cwd: project.dir,
      env: project.env,
      stdin: ALERT,
    });
    assert.equal(local.code, 0, show(local));
    assert.equal(summaryOf(local).sent, true);
    const other = await Deno.makeTempDir();
    try {
      const byEnv = await cli("ingest", ["det"], {
        cwd: project.dir,
        env: { ...project.env, BLITZ_CONFIG: project.config },
        stdin: ALERT,
      });
      assert.equal(byEnv.code, 0, show(byEnv));
      const missing = await cli("ingest", ["det"], {
        cwd: other,
        env: { ...project.env, BLITZ_CONFIG: `${other}/none.yaml` },
        stdin: ALERT,
      });
      assert.equal(missing.code, 2, show(missing));
      assert.equal(
        oneError(missing),
        `error: ${other}/none.yaml: (root): config file not found (use --config <path> or BLITZ_CONFIG)`,
      );
    } finally {
      await Deno.remove(other, { recursive: true });
    }
    assert.equal(rows(project.dataDir).length, 2);
  } finally {
    await project.cleanup();
  }
});

Deno.test("ingest exits 2 with one clear message for bad input and records nothing", async () => {
  const project = await basicProject();
  try {
    const cases: [string, string[], string, RegExp][] = [
      ["invalid JSON", ["det"], "{not json", /^error: Invalid JSON: /],
      [
        "JSON array",
        ["det"],
        "[1, 2]",
        /^error: Alert must be a JSON object, not an array$/,
      ],
      [
        "JSON string",
        ["det"],
        '"alert"',
        /^error: Alert must be a JSON object, not string$/,
      ],
      ["empty input", ["det"], "", /^error: Empty input/],
      ["unknown detector", ["nope"], ALERT, /^error: Unknown detector "nope"/],
      ["missing detector", [], ALERT, /^error: Missing detector name/],
    ];
    for (const [what, args, stdin, message] of cases) {
      const run = await cliIn(project, "ingest", args, stdin);
      assert.equal(run.code, 2, `${what}\n${show(run)}`);
      assert.equal(run.stdout, "", what);
      assert.match(oneError(run), message, what);
    }
    assert.deepEqual(list(`${project.dataDir}/outbox`), []);
    const db = list(project.dataDir).includes("blitz.db")
      ? rows(project.dataDir)
      : [];
    assert.deepEqual(db, []);
  } finally {
    await project.cleanup();
  }
});

Deno.test("ingest exits 2 for an invalid config, naming the file and the path", async () => {
  const project = await basicProject({ form_email: "typo@example.test" });
  try {
    const run = await cliIn(project, "ingest", ["det"], ALERT);
    assert.equal(run.code, 2, show(run));
    assert.equal(
      oneError(run),
      `error: ${project.config}: (root): Unrecognized key: "form_email"; did you mean "from_email"?`,
    );
    await Deno.writeTextFile(
      `${project.dir}/detectors/det.yaml`,
      stringify({ det: { include_json: "yes" } }),
    );
    await Deno.writeTextFile(
      project.config,
      stringify({
        action_keys: [{ id: "k1", secret: "${env:BLITZ_ACTION_KEY}" }],
      }),
    );
    const detector = await cliIn(project, "ingest", ["det"], ALERT);
    assert.equal(detector.code, 2, show(detector));
    assert.equal(
      oneError(detector),
      `error: ${project.dir}/detectors/det.yaml: det.include_json: Invalid input: expected boolean, received string`,
    );
    const noEnv = await cli("ingest", ["det", "--config", project.config], {
      cwd: project.dir,
      stdin: ALERT,
    });
    assert.equal(noEnv.code, 2, show(noEnv));
    assert.equal(
      oneError(noEnv),
      `error: ${project.config}: action_keys[0].secret: environment variable BLITZ_ACTION_KEY is not set`,
    );
  } finally {
    await project.cleanup();
  }
});

Deno.test("ingest exits 1 when delivery fails and keeps the alert recorded with the failure", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = listener.addr.port;
  listener.close(); // nothing listens here now: the connection is refused
  const project = await basicProject({
    smtp: `smtp://127.0.0.1:${closedPort}`,
  });
  try {
    const run = await cliIn(project, "ingest", ["det"], ALERT);
    assert.equal(run.code, 1, show(run));
    const summary = summaryOf(run);
    assert.equal(summary.sent, false);
    assert.notEqual(summary.delivery.status, "outbox");
    assert.equal(typeof summary.delivery.error, "string");
    const [row] = rows(project.dataDir);
    assert.equal(row!.id, summary.alert_id);
    assert.ok(
      ["retry", "failed"].includes(row!.status as string),
      `status ${row!.status}`,
    );
    assert.equal(row!.attempts, 1);
    assert.ok(String(row!.last_error).length > 0);
    assert.equal(JSON.parse(row!.delivery as string).error, row!.last_error);
    assert.ok(
      JSON.parse(row!.message as string).html.length > 0,
      "the composed message is kept for a retry",
    );
    assert.deepEqual(list(`${project.dataDir}/outbox`), []);
  } finally {
    await project.cleanup();
  }
});

Deno.test("ingest exits 0 with sent false when no condition matches and send_mail_no_condition_match is false", async () => {
  const project = await basicProject({}, {
    cond: {
      enrichment_conditional: true,
      send_mail_no_condition_match: false,
      enrichments: {
        'alert.severity == "critical"': [{ e_name: "Echo", e_func: "echo" }],
      },
    },
  });
  try {
    const run = await cliIn(project, "ingest", ["cond"], ALERT);
    assert.equal(run.code, 0, show(run));
    const summary = summaryOf(run);
    assert.equal(summary.sent, false);
    assert.equal(summary.delivery.status, "skipped");
    assert.equal(rows(project.dataDir)[0]!.status, "not_sent");
    assert.deepEqual(list(`${project.dataDir}/outbox`), []);
  } finally {
    await project.cleanup();
  }
});

Deno.test("ingest applies a detector module's preprocess once", async () => {
  const project = await writeProject({
    detectors: { pre: { subject: "{ip_src_addr} hops={hops}" } },
    files: {
      "detectors/pre.ts": `import { defineDetector } from "${PLUGIN_TS}";
export default defineDetector({
  name: "pre",
  preprocess: (alert) => ({ ...alert, ip_src_addr: String(alert.src), hops: Number(alert.hops ?? 0) + 1 }),
});
`,
    },
  });
  try {
    const run = await cliIn(
      project,
      "ingest",
      ["pre"],
      '{"src": "203.0.113.9"}',
    );
    assert.equal(run.code, 0, show(run));
    assert.equal(summaryOf(run).subject, "203.0.113.9 hops=1");
  } finally {
    await project.cleanup();
  }
});

Deno.test("render prints the email's HTML, runs no side-effect action and writes nothing", async () => {
  const project = await basicProject();
  try {
    const run = await cliIn(project, "render", ["det"], ALERT);
    assert.equal(run.code, 0, show(run));
    assert.ok(
      run.stdout.startsWith("<!DOCTYPE html>"),
      run.stdout.slice(0, 200),
    );
    assert.match(run.stdout, /<\/html>\n$/);
    assert.match(run.stdout, /Alert 192\.0\.2\.10 on web-1/);
    assert.match(
      run.stdout,
      /href="http:\/\/127\.0\.0\.1:8080\/actions\/[A-Za-z0-9_-]+"/,
      "reply button links are signed",
    );
    assert.doesNotMatch(
      run.stdout,
      /stamped-high/,
      "the side-effect action did not run",
    );
    assert.deepEqual(list(project.dataDir), [], "no outbox, no store");
    const text = await cliIn(project, "render", ["det", "--text"], ALERT);
    assert.equal(text.code, 0, show(text));
    assert.doesNotMatch(text.stdout, /<html/);
    assert.match(text.stdout, /web-1/);
    const bad = await cliIn(project, "render", ["det"], "[]");
    assert.equal(bad.code, 2, show(bad));
    oneError(bad);
    assert.deepEqual(list(project.dataDir), []);
  } finally {
    await project.cleanup();
  }
});

Deno.test("check prints a summary and exits 0 for a valid config", async () => {
  const project = await basicProject({}, {
    a: {
      enrichments: [{ e_name: "Echo", e_func: "echo" }, {
        e_name: "R",
        e_func: "reverse_dns",
        e_key: "ip",
      }],
    },
    b: { actions: { reply: [["Block", { actions: [["pass_to_mail", {}]] }]] } },
  });
  try {
    const run = await cliIn(project, "check", []);
    assert.equal(run.code, 0, show(run));
    assert.equal(
      run.stdout,
      `ok: ${project.config}: 2 detector(s) (a, b), 2 enrichment(s), 1 reply button(s)\n`,
    );
    assert.equal(run.stderr, "");
  } finally {
    await project.cleanup();
  }
});

Deno.test("check prints every problem as <file>: <detector>.<path>: <message> and exits 2", async () => {
  const project = await basicProject({}, {
    a: { enrichments: [{ e_name: "R", e_func: "reverse_dsn", e_key: "ip" }] },
    b: {
      actions: {
        reply: [["Block", {
          color: "chartreuse",
          actions: [["pass_to_mail", {}]],
        }]],
      },
    },
  });
  try {
    const run = await cliIn(project, "check", []);
    assert.equal(run.code, 2, show(run));
    assert.equal(run.stdout, "");
    const lines = run.stderr.split("\n").filter(Boolean);
    assert.equal(lines.length, 2, show(run));
    assert.match(
      lines[0]!,
      new RegExp(
        `^error: ${project.dir}/detectors/a\\.yaml: a\\.enrichments\\[0\\]\\.e_func: unknown enrichment "reverse_dsn"; did you mean "reverse_dns"\\?`,
      ),
    );
    assert.equal(
      lines[1],
      `error: ${project.dir}/detectors/b.yaml: b.actions.reply[0].color: unknown color "chartreuse": use a hex value or a name from mail_colors`,
    );
  } finally {
    await project.cleanup();
  }
});

Deno.test("--help of each subcommand prints its usage and exits 0", async () => {
  const cwd = await Deno.makeTempDir();
  try {
    for (const task of ["ingest", "render", "check"] as const) {
      const run = await cli(task, ["--help"], { cwd });
      assert.equal(run.code, 0, show(run));
      assert.ok(run.stdout.startsWith(`Usage: blitz ${task}`), show(run));
      assert.equal(run.stderr, "");
    }
    assert.deepEqual(list(cwd), [], "--help writes nothing");
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("ingest device_1 < tests/fixtures/device_1_alert.json works on the repo's example config", async () => {
  const dns = await startDnsServer({
    "10.2.0.192.in-addr.arpa": [{ type: "PTR", value: "scanner.example.test" }],
  });
  const project = await writeProject();
  try {
    // A copy of blitz.yaml whose relative folders point back into the repo, except data_dir (./data of the
    // temp project, which the task's --allow-write=./data covers), and whose reverse_dns uses the loopback DNS.
    const { parse } = await import("yaml");
    const repo = parse(await Deno.readTextFile(`${ROOT}/blitz.yaml`)) as Record<
      string,
      unknown
    >;
    const copy = {
      ...repo,
      detectors_dir: `${ROOT}/${repo.detectors_dir ?? "detectors"}`,
      plugin_dirs: ((repo.plugin_dirs ?? []) as string[]).map((
        dir,
      ) => (dir.startsWith("/") ? dir : `${ROOT}/${dir}`)),
      data_dir: "data",
      plugins: {
        ...(repo.plugins as Record<string, unknown> ?? {}),
        reverse_dns: { nameserver: `127.0.0.1:${dns.port}` },
      },
    };
    await Deno.writeTextFile(project.config, stringify(copy));
    const alert = await Deno.readTextFile(
      `${ROOT}/tests/fixtures/device_1_alert.json`,
    );
    const run = await cliIn(project, "ingest", ["device_1"], alert);
    assert.equal(run.code, 0, show(run));
    const summary = summaryOf(run);
    assert.equal(summary.sent, true);
    assert.equal(summary.subject, "Email Alert : 192.0.2.10 : SSH brute force");
    assert.deepEqual(summary.enrichments, [
      {
        name: "Reverse DNS",
        status: "ok",
        ms: (summary.enrichments as { ms: number }[])[0]!.ms,
      },
      { name: "Threat intel API", status: "skipped", ms: 0 },
    ]);
    assert.deepEqual(summary.actions, [{ name: "pass_to_mail", status: "ok" }, {
      name: "pass_to_mail",
      status: "ok",
    }]);
    assert.equal(summary.delivery.status, "outbox");
    const [row] = rows(project.dataDir);
    const enrichments = JSON.parse(row!.enrichments as string);
    assert.deepEqual(enrichments[0].data, {
      ip: "192.0.2.10",
      hostnames: ["scanner.example.test"],
    });
    const eml = await Deno.readTextFile(summary.delivery.path as string);
    assert.match(
      eml,
      /^Subject: Email Alert : 192\.0\.2\.10 : SSH brute force\r$/m,
    );
    for (
      const secret of [project.env.BLITZ_ACTION_KEY!, project.env.JIRA_TOKEN!]
    ) {
      assert.ok(
        !eml.includes(secret) && !run.stdout.includes(secret) &&
          !run.stderr.includes(secret),
        "no secret in output",
      );
      assert.ok(
        !JSON.stringify(row).includes(secret),
        "no secret in the record",
      );
    }
  } finally {
    await project.cleanup();
    await dns.close();
  }
});
