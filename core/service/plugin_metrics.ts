/** Prometheus text for the plugin sandbox and the per-enrichment rate/quota limits. */
import type { LimitStats } from "../pipeline/limits.ts";
import type { SandboxStats } from "../plugins/sandbox/sandbox.ts";
import { escapeLabel as label } from "./_metrics_text.ts";

const SANDBOX: [keyof SandboxStats, "gauge" | "counter", string][] = [
  ["workers", "gauge", "Sandbox workers alive per plugin"],
  ["spawned", "counter", "Sandbox workers started per plugin"],
  ["terminated", "counter", "Sandbox workers terminated per plugin"],
  ["calls", "counter", "Sandboxed plugin calls"],
  ["errors", "counter", "Sandboxed plugin calls that failed"],
  ["timeouts", "counter", "Sandboxed plugin calls past their deadline"],
  ["stuck", "counter", "Sandbox workers terminated while blocked"],
  ["disabled", "gauge", "1 when a plugin is disabled after stuck workers"],
];

const LIMITS: [keyof LimitStats, string][] = [
  ["calls", "Enrichment backend calls passed by the rate/quota limits"],
  ["delayed", "Enrichment calls that waited for a rate token"],
  ["limited", "Enrichment calls refused by the rate limit"],
  ["quotaExceeded", "Enrichment calls refused by the quota"],
];

/** Renders sandbox counters per plugin and limit counters per enrichment. */
export function renderPluginMetrics(
  sandbox: Record<string, SandboxStats> = {},
  limits: Record<string, LimitStats> = {},
): string {
  const lines: string[] = [];
  for (const [field, type, help] of SANDBOX) {
    const name = `blitz_sandbox_${field}${type === "counter" ? "_total" : ""}`;
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [plugin, stats] of Object.entries(sandbox)) {
      lines.push(`${name}{plugin="${label(plugin)}"} ${stats[field]}`);
    }
  }
  for (const [field, help] of LIMITS) {
    const snake = field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    const name = `blitz_enrichment_limit_${snake}_total`;
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
    for (const stats of Object.values(limits)) {
      lines.push(
        `${name}{enrichment="${label(stats.name)}",func="${
          label(stats.func)
        }"} ${stats[field]}`,
      );
    }
  }
  return lines.join("\n") + "\n";
}
