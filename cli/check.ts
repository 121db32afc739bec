/** `blitz check`: validates the global config and every detector. */
import { type CliArgs, type Command, CONFIG_OPTION } from "./command.ts";
import { loadConfig } from "../core/config/config.ts";
import { loadRegistry, type PluginRegistry } from "../core/plugins/registry.ts";
import { ConfigError } from "../core/errors.ts";
import { checkPluginConfigs } from "../core/pipeline/plugin_checks.ts";
import { redact } from "../core/secrets.ts";

const command: Command = {
  options: { ...CONFIG_OPTION },
  positionals: [],
  usage: `Usage: blitz check [--config <path>]

Validates the global config, every plugin in plugin_dirs and every detector (schema, CEL conditions,
enrichment and action names, colors, signing keys). Prints each problem as
"<file>: <detector>.<path>: <message>" and exits 2, or prints a summary and exits 0.`,

  async run(args: CliArgs): Promise<number> {
    let registry: PluginRegistry | undefined;
    const config = await loadConfig({
      path: args.config,
      registry: async (g) => (registry = await loadRegistry(g.plugin_dirs)),
    });
    for (const warning of config.warnings) {
      console.error(redact(`warning: ${warning}`));
    }
    // What the detectors give their plugins, checked by each plugin's own check hook.
    const problems = await checkPluginConfigs(config, registry!);
    if (problems.length) throw new ConfigError(problems);
    const detectors = [...config.detectors.values()];
    const enrichments = detectors.reduce(
      (n, d) => n + d.blocks.reduce((m, b) => m + b.entries.length, 0),
      0,
    );
    const buttons = detectors.reduce(
      (n, d) => n + d.config.actions.reply.length,
      0,
    );
    console.log(
      `ok: ${config.file}: ${detectors.length} detector(s) (${
        detectors.map((d) => d.name).join(", ")
      }), ` +
        `${enrichments} enrichment(s), ${buttons} reply button(s)`,
    );
    return 0;
  },
};

export default command;
