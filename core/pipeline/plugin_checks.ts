/**
 * `blitz check`'s pass over what each detector gives its plugins: every enrichment's `e_args` and every
 * send or reply action's config goes to the plugin's own `check` hook (core/plugin.ts), with the settings
 * it will run with, and each problem comes back as `<file>: <detector>.<path>: <message>`. Only the
 * built-ins whose catalogue row says `checks` are loaded (in this process, so `check` needs no more
 * permissions than reading the project); sandboxed plugins from `plugin_dirs` have their params checked
 * by their schema at each call, in their worker, and are skipped here. Disabled enrichments are skipped.
 *
 * @module
 */
import type { LoadedConfig, LoadedDetector } from "../config/config.ts";
import type { ActionStep } from "../config/schema.ts";
import type { CheckProblem } from "../plugin.ts";
import type { PluginEntry, PluginRegistry } from "../plugins/registry.ts";
import { errorMessage } from "../errors.ts";
import { settingsFor } from "./_compose.ts";

type Checkable = {
  name: string;
  reads?: import("../plugin.ts").ConfigReads;
  check?: (
    config: Record<string, unknown>,
    ctx: { detector: string; settings: Record<string, unknown> },
  ) => CheckProblem[];
};

/** Every problem the detectors' plugins find in their config, as `<file>: <detector>.<path>: <message>`. */
export async function checkPluginConfigs(
  config: LoadedConfig,
  registry: PluginRegistry,
): Promise<string[]> {
  const problems: string[] = [];
  for (const detector of config.detectors.values()) {
    const run = async (
      entry: PluginEntry<unknown>,
      where: string,
      value: Record<string, unknown>,
    ) => {
      if (!entry.checks) return;
      let plugin: Checkable;
      try {
        plugin = await entry.load() as Checkable;
      } catch (err) {
        problems.push(
          `${detector.file}: ${detector.name}.${where}: cannot load "${entry.name}": ${
            errorMessage(err)
          }`,
        );
        return;
      }
      if (typeof plugin.check !== "function") return;
      const settings = settingsFor(config, detector, plugin);
      for (
        const p of plugin.check(value, { detector: detector.name, settings })
      ) {
        const path = p.path ? `${where}.${p.path}` : where;
        problems.push(
          `${detector.file}: ${detector.name}.${path}: ${p.message}`,
        );
      }
    };
    for (const [where, entry] of enrichmentsOf(detector)) {
      await run(
        registry.enrichment(entry.e_func),
        `${where}.e_args`,
        entry.e_args,
      );
    }
    for (const [where, step] of actionsOf(detector)) {
      if (!registry.hasAction(step.name)) continue;
      await run(registry.action(step.name), where, step.config);
    }
  }
  return problems;
}

/** Each enrichment entry once, with its path (`enrichments[0]`, `enrichments["<condition>"][1]`). */
function enrichmentsOf(detector: LoadedDetector) {
  const out: [string, LoadedDetector["blocks"][number]["entries"][number]][] =
    [];
  const seen = new Set<unknown>();
  for (const block of detector.blocks) {
    block.entries.forEach((entry, i) => {
      if (seen.has(entry) || !entry.enabled) return;
      seen.add(entry);
      out.push([
        block.condition
          ? `enrichments[${JSON.stringify(block.condition.source)}][${i}]`
          : `enrichments[${i}]`,
        entry,
      ]);
    });
  }
  return out;
}

/** Each send action and reply-button step with its path (`actions.send[0]`, `actions.reply[1].actions[0]`). */
function actionsOf(detector: LoadedDetector): [string, ActionStep][] {
  const { send, reply } = detector.config.actions;
  return [
    ...send.map((step, i) =>
      [`actions.send[${i}]`, step] as [string, ActionStep]
    ),
    ...reply.flatMap((button, i) =>
      button.config.actions.map((step, j) =>
        [`actions.reply[${i}].actions[${j}]`, step] as [string, ActionStep]
      )
    ),
  ];
}
