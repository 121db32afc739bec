/** `blitz render <detector>`: the alert email's HTML on stdout; no side effects, nothing recorded. */
import { type CliArgs, type Command, CONFIG_OPTION } from "./command.ts";
import { InputError } from "../core/errors.ts";
import { humanLogger } from "../core/log.ts";
import {
  compose,
  detectorOf,
  newAlertId,
  parseAlert,
  preprocess,
  splitAlert,
} from "../core/pipeline/pipeline.ts";
import { closeRuntime, createRuntime } from "../core/service/runtime.ts";
import { readStdin } from "./ingest.ts";

const command: Command = {
  options: {
    ...CONFIG_OPTION,
    text: {
      type: "boolean",
      description: "print the plain-text part instead of the HTML",
    },
  },
  positionals: ["detector"],
  usage: `Usage: blitz render <detector> [--config <path>] [--text] < alert.json

Runs enrichments and side-effect-free send actions (pass_to_mail) and prints the email's HTML
(or its plain-text part with --text), one email after the other for a "split" detector. Sends
nothing, records nothing. Each placeholder left unfilled
is listed on stderr ("warning: unfilled placeholder: subject: {src_ip}").`,

  async run(args: CliArgs): Promise<number> {
    const [detectorName] = args.positional;
    if (!detectorName) {
      throw new InputError(
        "Missing detector name: blitz render <detector> < alert.json",
      );
    }
    const text = await readStdin();
    const runtime = await createRuntime({
      configPath: args.config,
      only: detectorName,
      log: humanLogger,
      io: false,
    });
    try {
      const detector = detectorOf(runtime.config, detectorName);
      const items = splitAlert(
        detector,
        parseAlert(text, runtime.config.global.max_json_depth),
      );
      if (items.length > 1) {
        console.error(
          `render: ${items.length} alerts (split: ${detector.config.split}): each email follows the other`,
        );
      }
      for (const item of items) {
        const composed = await compose(runtime, {
          detector,
          alert: await preprocess(detector, item),
          alertId: newAlertId(),
          receivedAt: new Date().toISOString(),
        }, { sideEffects: false });
        for (const unfilled of composed.unfilled) {
          console.error(`warning: unfilled placeholder: ${unfilled}`);
        }
        console.log(
          args.flags.text ? composed.message.text : composed.message.html,
        );
      }
      return 0;
    } finally {
      await closeRuntime(runtime);
    }
  },
};

export default command;
