/**
 * `deno task replay` as a child process over alerts that `deno task ingest` recorded: the same config
 * changes nothing; a changed one is reported per alert (text, --json, --html), offline without a
 * single DNS query, --live with them; --fail-on changed exits 1; the real store and outbox stay as
 * they were, byte for byte.
 */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { writeProject } from "./_config.ts";
import { startDnsServer } from "./_dns.ts";
import { openSqliteStore } from "../core/store/sqlite/sqlite.ts";
import { runTask, shown } from "./_task.ts";

async function digest(path: string): Promise<string> {
  const bytes = await Deno.readFile(path).catch(() => new Uint8Array());
  const hash = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(
    new Uint8Array(hash),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

Deno.test("replay reports what a changed config would change, offline and live, and touches nothing", async () => {
  let queries = 0;
  const dns = await startDnsServer({
    "10.2.0.192.in-addr.arpa": [{ type: "PTR", value: "scanner.example.test" }],
  }, { onQuery: () => queries++ });
  const detector = {
    subject: "Old {ip}",
    enrichments: [{
      e_name: "Reverse DNS",
      e_func: "reverse_dns",
      e_key: "ip",
    }],
    actions: {
      send: [["pass_to_mail", { return_name: "seen", data: "{ip}" }]],
      reply: [["Block", {
        color: "red",
        actions: [["pass_to_mail", { data: "x" }]],
      }]],
    },
  };
  const project = await writeProject({
    global: {
      plugins: { reverse_dns: { nameserver: `127.0.0.1:${dns.port}` } },
    },
    detectors: { d: detector },
  });
  const task = (name: string, args: string[], stdin?: string) =>
    runTask(name, args, {
      cwd: project.dir,
      env: project.env,
      ...(stdin ? { stdin } : {}),
    });
  try {
    const ids: string[] = [];
    for (
      const [n, severity] of [[1, "high"], [2, "low"], [3, "high"]] as const
    ) {
      const run = await task(
        "ingest",
        ["d", "--config", "blitz.yaml"],
        JSON.stringify({ ip: "192.0.2.10", n, severity }),
      );
      assert.equal(run.code, 0, shown(run));
      ids.push(JSON.parse(run.stdout).alert_id);
    }
    assert.equal(queries, 3);
    const storeFiles = ["blitz.db", "blitz.db-wal"].map((f) =>
      `${project.dataDir}/${f}`
    );
    const before = await Promise.all(storeFiles.map(digest));
    const outbox = [...Deno.readDirSync(`${project.dataDir}/outbox`)].map((e) =>
      e.name
    ).sort();

    const same = await task("replay", [
      "--config",
      "blitz.yaml",
      "--fail-on",
      "changed",
      "--json",
    ]);
    assert.equal(same.code, 0, shown(same));
    const unchanged = JSON.parse(same.stdout);
    const { storm: sameStorm, ...sameSummary } = unchanged.summary;
    assert.deepEqual(sameSummary, {
      replayed: 3,
      changed: 0,
      unchanged: 3,
      emails: { before: 3, after: 3 },
      decisions: {},
    });
    assert.deepEqual(
      [sameStorm.before.total, sameStorm.after.total],
      [3, 3],
      "no storm control: one email per alert, before and after",
    );
    assert.deepEqual(
      unchanged.alerts.map((a: { id: string }) => a.id),
      ids,
      "alert-time order",
    );
    assert.deepEqual(unchanged.alerts[0].after.enrichments, [
      "Reverse DNS: ok",
    ]);
    assert.deepEqual(unchanged.alerts[0].after.steps, ["Block: pass_to_mail"]);

    // The change: a new subject, one more recipient, a renamed button, and enrichment only for high severity.
    await Deno.mkdir(`${project.dir}/changed`);
    await Deno.writeTextFile(
      `${project.dir}/changed/d.yaml`,
      stringify({
        d: {
          ...detector,
          subject: "New {ip} ({seen})",
          mailers: { to: ["lead@example.test"] },
          enrichment_conditional: true,
          enrichments: { 'alert.severity == "high"': detector.enrichments },
          send_mail_no_condition_match: false,
          actions: {
            ...detector.actions,
            reply: [["Block IP", detector.actions.reply[0]![1]]],
          },
        },
      }),
    );
    const config = (await Deno.readTextFile(project.config)).replace(
      /^detectors_dir: .*$/m,
      "detectors_dir: changed",
    );
    await Deno.writeTextFile(`${project.dir}/changed.yaml`, config);

    const changed = await task("replay", [
      "--config",
      "changed.yaml",
      "--fail-on",
      "changed",
      "--json",
    ]);
    assert.equal(changed.code, 1, shown(changed));
    const report = JSON.parse(changed.stdout);
    const { storm: changedStorm, ...changedSummary } = report.summary;
    assert.deepEqual(changedSummary, {
      replayed: 3,
      changed: 3,
      unchanged: 0,
      emails: { before: 3, after: 2 },
      decisions: {},
    });
    assert.deepEqual(
      [changedStorm.before.total, changedStorm.after.total],
      [3, 2],
    );
    const [high, low] = report.alerts;
    const fields = (alert: { changes: { field: string }[] }) =>
      alert.changes.map((c) => c.field);
    assert.deepEqual(fields(high), ["subject", "to", "condition", "buttons"]);
    assert.deepEqual(high.changes[0], {
      field: "subject",
      before: "Old 192.0.2.10",
      after: "New 192.0.2.10 (192.0.2.10)",
    });
    assert.deepEqual(high.changes[1].after, [
      "soc@example.test",
      "lead@example.test",
    ]);
    assert.deepEqual(high.changes[2], {
      field: "condition",
      before: "",
      after: 'alert.severity == "high"',
    });
    assert.deepEqual(high.changes[3], {
      field: "buttons",
      before: ["Block"],
      after: ["Block IP"],
    });
    assert.deepEqual(
      high.after.enrichments,
      ["Reverse DNS: ok"],
      "the stored result, offline",
    );
    assert.deepEqual(fields(low), [
      "sent",
      "subject",
      "to",
      "enrichments",
      "buttons",
    ]);
    assert.deepEqual(low.changes[0], {
      field: "sent",
      before: true,
      after: false,
    });
    assert.deepEqual(low.after.enrichments, []);
    assert.equal(queries, 3, "offline: not a single DNS query");

    const text = await task("replay", [
      "--config",
      "changed.yaml",
      "--ids",
      ids.join(","),
      "--html",
      "report",
    ]);
    assert.equal(text.code, 0, shown(text));
    const lines = text.stdout.split("\n");
    assert.match(
      lines[0]!,
      /^replay: 3 alert\(s\) from .*\/data\/blitz\.db through .*\/changed\.yaml \(offline: stored enrichment results\)$/,
    );
    assert.ok(lines.includes(`~ ${ids[0]} d ${high.received_at}`), text.stdout);
    assert.ok(
      lines.includes(
        `    subject: "Old 192.0.2.10" → "New 192.0.2.10 (192.0.2.10)"`,
      ),
      text.stdout,
    );
    assert.ok(
      lines.includes(
        "summary: 3 replayed, 3 changed, 0 unchanged; emails 3 → 2",
      ),
      text.stdout,
    );
    const index = await Deno.readTextFile(`${project.dir}/report/index.html`);
    assert.ok(index.includes(`href="${ids[1]}.html"`));
    const page = await Deno.readTextFile(
      `${project.dir}/report/${ids[0]}.html`,
    );
    assert.equal(
      page.match(/<iframe sandbox="" srcdoc="/g)?.length,
      2,
      "recorded and replayed email side by side",
    );
    assert.match(page, /New 192\.0\.2\.10/);

    const live = await task("replay", [
      "--config",
      "changed.yaml",
      "--live",
      "--json",
      "--detector",
      "d",
    ]);
    assert.equal(live.code, 0, shown(live));
    // One query: the second high-severity alert asks the same question within the cache's lifetime.
    assert.equal(queries, 4, `--live queried again\n${shown(live)}`);
    assert.deepEqual(JSON.parse(live.stdout).alerts[0].after.enrichments, [
      "Reverse DNS: ok",
    ]);

    assert.deepEqual(
      await Promise.all(storeFiles.map(digest)),
      before,
      "the real store is unchanged",
    );
    assert.deepEqual(
      [...Deno.readDirSync(`${project.dataDir}/outbox`)].map((e) => e.name)
        .sort(),
      outbox,
      "nothing sent",
    );
  } finally {
    await dns.close();
    await project.cleanup();
  }
});

Deno.test("replay refuses bad flags with what to write instead", async () => {
  const project = await writeProject({ detectors: { d: { subject: "S" } } });
  try {
    const cases: [string[], RegExp][] = [
      [["--since", "1d", "--ids", "a"], /Use --since or --ids, not both/],
      [
        ["--fail-on", "anything"],
        /--fail-on "anything": the only value is "changed"/,
      ],
      [["--bogus"], /Unknown option "--bogus"/],
      [["--ids", "nope"], /No alert "nope" in the store|No store at/],
    ];
    for (const [args, message] of cases) {
      const run = await runTask("replay", ["--config", "blitz.yaml", ...args], {
        cwd: project.dir,
        env: project.env,
      });
      assert.equal(run.code, 2, shown(run));
      assert.match(run.stderr, message);
      assert.doesNotMatch(run.stderr, /^\s+at /m);
    }
  } finally {
    await project.cleanup();
  }
});

Deno.test("replay --since reads every alert when many share one received_at across its 500-row pages", async () => {
  const project = await writeProject({
    detectors: { d: { subject: "S {n}" } },
  });
  try {
    // 1,203 alerts in the same millisecond: one page of 500 ends inside the tie, twice.
    const at = new Date(Date.now() - 60_000).toISOString();
    await Deno.mkdir(project.dataDir, { recursive: true });
    const store = openSqliteStore(`${project.dataDir}/blitz.db`);
    try {
      await store.insertAlerts(
        Array.from({ length: 1203 }, (_, n) => ({
          id: `tie-${String(n).padStart(4, "0")}`,
          detector: "d",
          alert: { n },
          received_at: at,
          status: "delivered" as const,
        })),
      );
    } finally {
      await store.close();
    }
    const run = await runTask("replay", [
      "--config",
      "blitz.yaml",
      "--since",
      "1h",
      "--json",
    ], { cwd: project.dir, env: project.env });
    assert.ok(run.code === 0 || run.code === 1, shown(run));
    const report = JSON.parse(run.stdout);
    assert.equal(report.summary.replayed, 1203);
    const ids = new Set(report.alerts.map((a: { id: string }) => a.id));
    assert.equal(ids.size, 1203, "each alert exactly once");
  } finally {
    await project.cleanup();
  }
});
