import assert from "node:assert/strict";
import { levelFor, severityOf } from "./severity.ts";
import { SeveritySchema } from "./config/schema.ts";
import { compileExpression } from "./config/conditions.ts";

const rule = (config: Record<string, unknown>) => ({
  config: SeveritySchema.parse(config),
});

Deno.test("severityOf() maps Suricata's 1-3 exactly, with the default for anything else", () => {
  const suricata = rule({
    field: "alert.severity",
    map: { 1: "critical", 2: "high", 3: "medium" },
    default: "low",
  });
  assert.equal(severityOf(suricata, { alert: { severity: 1 } }), "critical");
  assert.equal(severityOf(suricata, { alert: { severity: "2" } }), "high");
  assert.equal(severityOf(suricata, { alert: { severity: 4 } }), "low");
  assert.equal(severityOf(suricata, {}), "low", "missing field");
});

Deno.test("severityOf() takes numeric ranges, first match wins (Wazuh rule.level, GuardDuty 0-8.9)", () => {
  const wazuh = rule({
    field: "rule.level",
    ranges: [{ min: 12, level: "critical" }, { min: 7, level: "high" }, {
      min: 4,
      level: "medium",
    }],
    default: "low",
  });
  assert.equal(severityOf(wazuh, { rule: { level: 15 } }), "critical");
  assert.equal(severityOf(wazuh, { rule: { level: 7 } }), "high");
  assert.equal(severityOf(wazuh, { rule: { level: "5" } }), "medium");
  assert.equal(severityOf(wazuh, { rule: { level: 3 } }), "low");
  const guardduty = rule({
    field: "detail.severity",
    ranges: [{ min: 7, level: "high" }, { min: 4, level: "medium" }],
    default: "low",
  });
  assert.equal(severityOf(guardduty, { detail: { severity: 8.9 } }), "high");
  assert.equal(severityOf(guardduty, { detail: { severity: 5.3 } }), "medium");
});

Deno.test("severityOf() reads level names as they are (any case), and maps other names", () => {
  const alertmanager = rule({ field: "labels.severity", default: "medium" });
  assert.equal(
    severityOf(alertmanager, { labels: { severity: "Critical" } }),
    "critical",
  );
  assert.equal(
    severityOf(alertmanager, { labels: { severity: "page" } }),
    "medium",
  );
  const falco = rule({
    field: "priority",
    map: { Emergency: "critical", Critical: "critical", Warning: "medium" },
  });
  assert.equal(severityOf(falco, { priority: "Warning" }), "medium");
  assert.equal(severityOf(falco, { priority: "Debug" }), "medium", "default");
});

Deno.test("severityOf() with cel evaluates the expression, then maps its value", () => {
  const config = SeveritySchema.parse({
    cel: 'alert.rule.level >= 10 ? "critical" : alert.rule.level',
    ranges: [{ min: 5, level: "high" }],
    default: "low",
  });
  const expr = compileExpression(config.cel!);
  const r = { config, evaluate: expr.evaluate };
  assert.equal(severityOf(r, { rule: { level: 11 } }), "critical");
  assert.equal(severityOf(r, { rule: { level: 6 } }), "high");
  assert.equal(
    severityOf(r, {}),
    "low",
    "an expression error gives the default",
  );
});

Deno.test("SeveritySchema refuses unknown levels and needs exactly one of field or cel", () => {
  const bad = SeveritySchema.safeParse({ field: "x", map: { 1: "urgent" } });
  assert.ok(!bad.success);
  assert.match(bad.error.issues[0]!.message, /critical, high, medium, low/);
  assert.ok(!SeveritySchema.safeParse({ default: "low" }).success);
  assert.ok(!SeveritySchema.safeParse({ field: "a", cel: "b" }).success);
  assert.equal(levelFor(SeveritySchema.parse({ field: "a" }), 1n), "medium");
});
