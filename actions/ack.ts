/**
 * `ack` (built in, storm control): acknowledges the alert's fingerprint: no more emails for it until
 * it has been quiet for the detector's `storm.ack_quiet` (default 24h). Not a silence: a silence is
 * timed, an ack lasts while the storm lasts. It runs from a button (the digest's "Ack this
 * fingerprint"): the button run passes the store side in `ctx.settings.ack`.
 *
 * @module
 */
import { z } from "zod";
import { defineAction } from "../core/plugin.ts";

const Settings = z.object({
  ack: z.custom<() => Promise<{ fingerprint: string; quiet: string }>>((v) =>
    typeof v === "function"
  ),
});

export default defineAction({
  name: "ack",
  aliases: [],
  params: z.strictObject({}),
  sideEffects: true,
  timeoutMs: 10_000,
  async run(_params, ctx) {
    const settings = Settings.safeParse(ctx.settings);
    if (!settings.success) {
      throw new TypeError(
        "ack runs only from a button of an alert with storm control",
      );
    }
    const acked = await settings.data.ack();
    return {
      acked: acked.fingerprint,
      until: `quiet for ${acked.quiet}`,
    };
  },
});
