/**
 * The budget of CEL conditions (issue 16 item 6): `matches` never backtracks catastrophically, and a
 * comprehension over a large list is refused before it runs, in process (where V8's linear-time regexp
 * engine is off, so the static refusal applies) and through `deno task ingest` (where it is on).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { simpleParser } from "mailparser";
import { compileCondition, ConditionBudgetError } from "./conditions.ts";
import { backtrackRisk, LINEAR_REGEX } from "./_regex.ts";
import { writeProject } from "../../tests/_config.ts";
import { runTask, shown } from "../../tests/_task.ts";

const EVIL = "a".repeat(40) + "!"; // 2^40 steps for ^(a+)+$ in a backtracking engine

Deno.test("compileCondition() refuses a literal pattern that can backtrack catastrophically (no linear engine in this process)", () => {
  assert.equal(LINEAR_REGEX, false, "deno test runs without the V8 flag");
  assert.throws(
    () => compileCondition('alert.url.matches("^(a+)+$")'),
    /can backtrack catastrophically \(a repeated group that itself repeats or alternates\)/,
  );
  assert.equal(backtrackRisk("(\\d{1,3}\\.){3}\\d{1,3}"), "");
  assert.equal(
    compileCondition('alert.ip.matches("^(\\\\d{1,3}\\\\.){3}\\\\d{1,3}$")')
      .matches({ ip: "10.1.2.3" }),
    true,
  );
});

Deno.test("a pattern read from the alert is refused when it can backtrack, before it runs", () => {
  const condition = compileCondition("alert.url.matches(alert.pattern)");
  assert.throws(
    () => condition.matches({ url: EVIL, pattern: "^(a+)+$" }),
    /can backtrack catastrophically/,
  );
  assert.equal(condition.matches({ url: "abc", pattern: "^a.c$" }), true);
});

Deno.test("a nested comprehension over a 400-element list exceeds the budget without running", () => {
  const condition = compileCondition(
    "alert.l.all(x, alert.l.all(y, alert.l.exists(z, z == x + y)))",
  );
  const l = Array.from({ length: 400 }, (_, i) => i);
  assert.throws(
    () => condition.matches({ l }),
    (err) =>
      err instanceof ConditionBudgetError &&
      /^Condition exceeded its budget: its comprehensions, nested 3 deep over lists of up to 400 elements, would visit about 64,481,201 \(condition_budget.size: 100,000\)$/
        .test(err.message),
  );
  // Small lists are fine.
  assert.equal(condition.matches({ l: [0] }), true);
});

Deno.test("deno task ingest: with the linear engine ^(a+)+$ runs in linear time, and a comprehension over its budget is shown in the email", async () => {
  const project = await writeProject({
    detectors: {
      regex: {
        subject: "Regex {url}",
        enrichment_conditional: true,
        send_mail_no_condition_match: true,
        enrichments: { 'alert.url.matches("^(a+)+$")': [] },
      },
      loops: {
        subject: "Loops",
        enrichment_conditional: true,
        send_mail_no_condition_match: true,
        enrichments: {
          "alert.l.all(x, alert.l.all(y, alert.l.exists(z, z == x + y)))": [],
        },
      },
    },
  });
  try {
    const run = (detector: string, alert: unknown) =>
      runTask("ingest", [detector, "--config", project.config], {
        cwd: project.dir,
        env: project.env,
        stdin: JSON.stringify(alert),
        timeoutMs: 60_000, // a bound: without the fix these run for hours
      });
    const mailText = async (ran: Awaited<ReturnType<typeof run>>) => {
      assert.equal(ran.code, 0, shown(ran));
      const { alert_id } = JSON.parse(ran.stdout);
      const mail = await simpleParser(
        Buffer.from(
          await Deno.readFile(`${project.dataDir}/outbox/${alert_id}.eml`),
        ),
      );
      return mail.text ?? "";
    };
    const NO_MATCH = "No enrichment condition matched this alert";
    assert.ok(
      (await mailText(await run("regex", { url: EVIL }))).includes(NO_MATCH),
    );
    assert.ok(
      !(await mailText(await run("regex", { url: "a".repeat(40) })))
        .includes(NO_MATCH),
    );
    const loops = await run("loops", {
      l: Array.from({ length: 400 }, (_, i) => i),
    });
    assert.match(
      await mailText(loops),
      /No enrichment condition matched this alert; condition "alert\.l\.all\(x, .*\)": Condition exceeded its budget: its comprehensions, nested 3 deep over lists of up to 400 elements/,
    );
  } finally {
    await project.cleanup();
  }
});
