/**
 * `blitz check`'s pass over what each detector gives its plugins: every enrichment's `e_args` and every
 * send or reply action's config goes to the plugin's own `check` hook (core/plugin.ts), with the settings
 * it will run with, and each problem comes back as `<file>: <detector>.<path>: <message>`. Only the
 * built-ins whose catalogue row says `checks` are loaded (in this process, so `check` needs no more
 * permissions than reading the project). A `plugin_dirs` plugin with a hook (its description says so)
 * runs it in a sandbox child process, as it was loaded (reading its own modules, nothing else): one
 * child per plugin for all the configs that name it. Disabled enrichments are skipped.
 *
 * @module
 */
import type { LoadedConfig, LoadedDetector } from "../config/config.ts";
import type { ActionStep } from "../config/schema.ts";
import type { CheckProblem } from "../plugin.ts";
import type { CheckRequest } from "../plugins/sandbox/sandbox_worker.ts";
import type { PluginEntry, PluginRegistry } from "../plugins/registry.ts";
import { errorMessage } from "../errors.ts";
import { checkSandboxed } from "../plugins/sandbox/sandbox.ts";
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
  /** The configs each sandboxed plugin checks, by module URL: one child per plugin runs them all. */
  const sandboxed = new Map<
    string,
    { entry: PluginEntry<unknown>; uses: Use[] }
  >();
  const report = (use: Use, found: CheckProblem[]) => {
    for (const p of found) {
      const path = p.path ? `${use.where}.${p.path}` : use.where;
      problems.push(
        `${use.detector.file}: ${use.detector.name}.${path}: ${p.message}`,
      );
    }
  };
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
      const use: Use = {
        detector,
        where,
        check: {
          config: value,
          ctx: {
            detector: detector.name,
            settings: settingsFor(config, detector, plugin),
          },
        },
      };
      if (!entry.builtin) {
        const group = sandboxed.get(entry.url) ?? { entry, uses: [] };
        group.uses.push(use);
        sandboxed.set(entry.url, group);
        return;
      }
      if (typeof plugin.check !== "function") return;
      report(use, plugin.check(use.check.config, use.check.ctx));
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
  for (const { entry, uses } of sandboxed.values()) {
    let found: CheckProblem[][];
    try {
      found = await checkSandboxed(
        entry.url,
        uses.map((use) => use.check),
        { memoryMb: config.global.plugin_memory_mb },
      );
    } catch (err) {
      const use = uses[0]!;
      problems.push(
        `${use.detector.file}: ${use.detector.name}.${use.where}: the check() of "${entry.name}" (${
          decodeURIComponent(new URL(entry.url).pathname)
        }) failed: ${errorMessage(err)}`,
      );
      continue;
    }
    uses.forEach((use, i) => report(use, found[i]!));
  }
  return problems;
}

/** One place a detector gives a plugin its config. */
interface Use {
  detector: LoadedDetector;
  where: string;
  check: CheckRequest;
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
