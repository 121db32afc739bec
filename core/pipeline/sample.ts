/**
 * A dry run of a detector against a sample alert, for `check --sample`: the alert is split and
 * preprocessed as ingest would, its severity mapped, its conditions evaluated, side-effect-free send
 * actions run and its email rendered, with no enrichment run, nothing sent and nothing recorded. Each
 * finding says what would go wrong at 3 a.m.: a placeholder left unfilled, a condition that errors,
 * a CEL path or a fingerprint, thread or id path the sample does not have.
 *
 * @module
 */
import type { LoadedConfig, LoadedDetector } from "../config/config.ts";
import { errorMessage } from "../errors.ts";
import type { PluginRegistry } from "../plugins/registry.ts";
import { type Level, severityInput, severityOf } from "../severity.ts";
import { missingPaths } from "../storm/storm.ts";
import { fillDeep, lookup, placeholders } from "../template.ts";
import { runSteps } from "./actions.ts";
import { selectBlock, settingsFor } from "./_compose.ts";
import { preprocess, splitAlert } from "./_input.ts";
import { renderMessage } from "./_message.ts";
import { isResolved } from "../resolved.ts";

/** What a sample came to: one entry per alert it became, and every finding as `<path>: <message>`. */
export interface SampleReport {
  alerts: { subject: string; severity?: string; condition: string | null }[];
  findings: string[];
}

/** Runs `detector` over `sample` without side effects and reports what would go wrong. */
export async function checkSample(
  deps: { config: LoadedConfig; registry: PluginRegistry },
  detector: LoadedDetector,
  sample: Record<string, unknown>,
): Promise<SampleReport> {
  const findings: string[] = [];
  const add = (path: string, message: string) => {
    const line = `${path}: ${message}`;
    if (!findings.includes(line)) findings.push(line);
  };
  const report: SampleReport = { alerts: [], findings };
  let items: Record<string, unknown>[];
  try {
    items = splitAlert(detector, sample, "The sample");
  } catch (err) {
    add("split", errorMessage(err));
    return report;
  }
  const log = (event: string, fields: Record<string, unknown> = {}) => {
    if (event === "condition_error") {
      add(
        `enrichments["${fields.condition}"]`,
        `the condition errors on the sample: ${fields.error}`,
      );
    }
  };
  for (const item of items) {
    let alert = item;
    try {
      alert = await preprocess(detector, item);
    } catch (err) {
      add("(module).preprocess", `fails on the sample: ${errorMessage(err)}`);
    }
    const { config } = detector;
    let severity: Level | undefined;
    if (detector.severity) {
      if (severityInput(detector.severity, alert) === undefined) {
        add(
          `severity.${detector.severity.config.field ? "field" : "cel"}`,
          `gives nothing on the sample: every alert would be "${detector.severity.config.default}" (the default)`,
        );
      }
      severity = severityOf(detector.severity, alert);
    }
    for (const block of detector.blocks) {
      if (!block.condition) continue;
      for (const path of celPaths(block.condition.source)) {
        if (lookup(alert, path) === undefined) {
          add(
            `enrichments["${block.condition.source}"]`,
            `reads alert.${path}, which the sample does not have (guard it with has(alert.${path}))`,
          );
        }
      }
    }
    const { block, matched } = selectBlock({ log }, detector, alert, "sample", {
      severity: severity ?? "",
    });
    (block?.entries ?? []).forEach((entry, i) => {
      if (!entry.enabled) return;
      const where = `enrichments[${i}] (${entry.e_name})`;
      for (const key of entry.e_key.split(",").map((k) => k.trim())) {
        if (key && lookup(alert, key) === undefined) {
          add(`${where}.e_key`, `the sample has no "${key}"`);
        }
      }
      const missing: string[] = [];
      fillDeep(entry.e_args, alert, { missing });
      for (const m of missing) {
        add(`${where}.e_args`, `unfilled placeholder ${m}`);
      }
    });
    for (
      const [key, paths] of [
        ["storm.fingerprint", config.storm?.fingerprint ?? []],
        ["thread_key", config.thread_key ?? []],
        ["id_field", config.id_field ? [config.id_field] : []],
      ] as const
    ) {
      for (const path of missingPaths(paths, alert)) {
        add(
          key,
          `the sample has no "${path}": every such alert would share "(missing)"`,
        );
      }
    }
    const values: Record<string, unknown> = severity ? { severity } : {};
    const actions = await runSteps(config.actions.send, {
      alert,
      alertId: "sample",
      detector: detector.name,
      registry: deps.registry,
      settingsFor: (plugin) => settingsFor(deps.config, detector, plugin),
      values,
      sideEffects: false,
      onMissing: (where, p) => add(where, `unfilled placeholder ${p}`),
    });
    for (const a of actions) {
      if (a.status === "error" || a.status === "timeout") {
        add(`actions.send (${a.name})`, `fails on the sample: ${a.error}`);
      }
    }
    config.actions.reply.forEach((button, i) => {
      const later = new Set<string>();
      button.config.actions.forEach((step, j) => {
        const { return_name, enabled: _enabled, ...rest } = step.config;
        const missing: string[] = [];
        fillDeep(rest, { ...alert, ...values }, { missing });
        for (const m of missing) {
          const root = placeholders(m)[0]?.path.split(/[.[]/)[0] ?? "";
          if (!later.has(root)) {
            add(
              `actions.reply[${i}].actions[${j}]`,
              `unfilled placeholder ${m}`,
            );
          }
        }
        if (return_name) later.add(return_name);
      });
    });
    const { message } = await renderMessage({ config: deps.config }, {
      detector,
      alert,
      alertId: "00000000-0000-7000-8000-000000000000",
      receivedAt: new Date().toISOString(),
      matched,
      condition: block?.condition?.source ?? null,
      enrichments: [],
      actions,
      values,
      ...(severity ? { severity } : {}),
      thread: { resolved: isResolved(alert) },
      onMissing: (where, p) => add(where, `unfilled placeholder ${p}`),
    });
    report.alerts.push({
      subject: message.subject,
      ...(severity ? { severity } : {}),
      condition: block?.condition?.source ?? null,
    });
  }
  return report;
}

/** The `alert.…` paths a CEL source reads, except method names and paths it guards with `has()`. */
export function celPaths(source: string): string[] {
  const paths = new Set<string>();
  const re =
    /\balert((?:\.[A-Za-z_][A-Za-z0-9_]*|\[(?:"[^"]*"|'[^']*'|\d+)\])+)(\s*\()?/g;
  for (const m of source.matchAll(re)) {
    let raw = m[1]!;
    if (m[2]) raw = raw.replace(/\.[A-Za-z_][A-Za-z0-9_]*$/, ""); // a method call
    if (!raw) continue;
    if (source.includes(`has(alert${raw})`)) continue;
    const before = source.slice(0, m.index);
    if (/has\(\s*$/.test(before)) continue;
    paths.add(raw.startsWith(".") ? raw.slice(1) : raw);
  }
  return [...paths];
}
