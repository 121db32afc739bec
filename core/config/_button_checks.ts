/**
 * The checks of a detector's reply buttons that need more than the schema: one label per button (two
 * "Block" buttons cannot be told apart in the email), a known color, and signing keys for their links.
 *
 * @module
 */
import type { DetectorConfig, GlobalConfig } from "./schema.ts";

/** Built-in color names for reply buttons, overridable through `mail_colors`. */
export const DEFAULT_COLORS: Record<string, string> = {
  orange: "#d9822b",
  red: "#c23030",
  green: "#0f9960",
  blue: "#2b6cb0",
  grey: "#5c7080",
  gray: "#5c7080",
  purple: "#7157d9",
};

/** Reports each problem of `detector.actions.reply` through `problem(path, message)`. */
export function checkButtons(
  detector: DetectorConfig,
  global: GlobalConfig,
  problem: (path: string, message: string) => void,
): void {
  const labels = new Map<string, number>();
  detector.actions.reply.forEach((button, i) => {
    const first = labels.get(button.name.trim());
    if (first !== undefined) {
      problem(
        `actions.reply[${i}]`,
        `same label as actions.reply[${first}] ("${button.name}"): give each button its own label, or the analyst cannot tell them apart`,
      );
    } else labels.set(button.name.trim(), i);
    const color = button.config.color;
    if (
      !color.startsWith("#") && !(color in global.mail_colors) &&
      !(color in DEFAULT_COLORS)
    ) {
      problem(
        `actions.reply[${i}].color`,
        `unknown color "${color}": use a hex value or a name from mail_colors`,
      );
    }
  });
  if (detector.actions.reply.length > 0 && global.action_keys.length === 0) {
    problem(
      "actions.reply",
      "reply actions need action_keys in the global config to sign their links",
    );
  }
}
