/**
 * Runs action steps (send actions before delivery, and the steps of a reply button), in order, each
 * with its placeholders filled from the alert and the `return_name` values of earlier steps.
 *
 * @module
 */
import type { ActionStep } from "../config/schema.ts";
import { callWithDeadline, TimeoutError } from "../plugins/call.ts";
import type { ActionPlugin, ConfigReads } from "../plugin.ts";
import type { PluginRegistry } from "../plugins/registry.ts";
import type { Invoker } from "./enrich.ts";
import { publicError, redactDeep } from "../secrets.ts";
import type { ActionResult } from "../store/store.ts";
import { fillDeep } from "../template.ts";
import { buildUrl } from "../safe_fetch/safe_fetch.ts";

/** What running steps needs. */
export interface StepRun {
  alert: Record<string, unknown>;
  alertId: string;
  detector: string;
  registry: PluginRegistry;
  /** Settings handed to a plugin: `plugins.<name>` and the config its `reads` declares. */
  settingsFor(
    plugin: { name: string; reads?: ConfigReads | undefined },
  ): Record<string, unknown>;
  /** Values from earlier steps by return_name (mutated as steps finish). */
  values: Record<string, unknown>;
  /** Told of every placeholder left unfilled in a step's config (`where` names the step). */
  onMissing?(where: string, placeholder: string): void;
  /** When false, steps whose plugin has side effects are skipped (the `render` command). @default true */
  sideEffects?: boolean;
  /** Stop at the first failing step (reply buttons). @default false */
  stopOnError?: boolean;
  /**
   * Runs plugins from plugin_dirs (the sandbox). Built-in actions run in this process: they are part of
   * Blitz and `forward_mail` needs the process's delivery. @default in-process for every action
   */
  invoker?: Invoker;
}

/** Runs steps in order; each result is recorded, a failure never throws. */
export async function runSteps(
  steps: ActionStep[],
  run: StepRun,
): Promise<ActionResult[]> {
  const results: ActionResult[] = [];
  let failed = false;
  for (const step of steps) {
    const { enabled, return_name, ...rest } = step.config;
    const named = return_name ? { return_name } : {};
    if (!enabled || failed) {
      results.push({
        name: step.name,
        status: "skipped",
        ...named,
        ...(failed ? { error: "an earlier step failed" } : {}),
      });
      continue;
    }
    const started = performance.now();
    const ms = () => Math.round(performance.now() - started);
    try {
      const entry = run.registry.action(step.name);
      // deno-lint-ignore no-explicit-any
      const plugin: ActionPlugin<any> = await entry.load();
      if (run.sideEffects === false && plugin.sideEffects !== false) {
        results.push({
          name: step.name,
          status: "skipped",
          ...named,
          error: "not run: has side effects",
        });
        continue;
      }
      const data = { ...run.alert, ...run.values };
      const missing: string[] = [];
      // Typed: `"{alert.sid}"` stays a number in a JSON body; as text again if the plugin wants strings.
      const typed = fillDeep(rest, data, { typed: true, missing });
      for (const m of missing) run.onMissing?.(`action "${step.name}"`, m);
      for (const field of plugin.urlParams ?? []) {
        if (typeof rest[field] === "string") {
          typed[field] = buildUrl(rest[field], data).href;
        }
      }
      let params: unknown = typed;
      if (plugin.params) {
        let parsed = plugin.params.safeParse(typed);
        if (!parsed.success) {
          const asText = { ...fillDeep(rest, data) };
          for (const field of plugin.urlParams ?? []) {
            if (field in typed) asText[field] = typed[field];
          }
          const second = plugin.params.safeParse(asText);
          if (second.success) parsed = second;
        }
        if (!parsed.success) {
          throw new TypeError(
            `invalid config: ${
              parsed.error.issues.map((i) =>
                `${i.path.join(".") || "config"}: ${i.message}`
              ).join("; ")
            }`,
          );
        }
        params = parsed.data;
      }
      const ctx = {
        alert: run.alert,
        alertId: run.alertId,
        detector: run.detector,
        args: [],
        settings: run.settingsFor(plugin),
      };
      const timeoutMs = plugin.timeoutMs ?? 10_000;
      const value = !entry.builtin && run.invoker
        ? await run.invoker.invoke(entry, plugin, params, ctx, { timeoutMs })
        : await callWithDeadline(plugin, params, ctx, timeoutMs);
      const safe = redactDeep(value ?? null);
      if (return_name) run.values[return_name] = safe;
      results.push({
        name: step.name,
        status: "ok",
        ...named,
        value: safe,
        ms: ms(),
      });
    } catch (err) {
      const timeout = err instanceof TimeoutError;
      results.push({
        name: step.name,
        status: timeout ? "timeout" : "error",
        ...named,
        error: publicError(err),
        ms: ms(),
      });
      if (run.stopOnError) failed = true;
    }
  }
  return results;
}
