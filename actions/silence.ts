/**
 * `silence` (built in, storm control): silences the alert's fingerprint (`scope: fingerprint`, the
 * default) or its whole detector (`scope: detector`) for `for` (default 4h, at most 30d). Alerts it
 * covers are stored and counted, not mailed; when it ends, one email says how many arrived. It runs
 * from a button (the digest's "Silence this fingerprint 4h"): the button run passes the store side in
 * `ctx.settings.silence`, with the person who confirmed it.
 *
 * @module
 */
import { z } from "zod";
import { defineAction } from "../core/plugin.ts";

const DURATION = /^\s*(\d+(?:\.\d+)?)\s*(m|h|d)\s*$/;

/** `30m`, `4h`, `7d` in milliseconds; at most 30 days. */
function silenceMs(value: string): number {
  const match = DURATION.exec(value);
  if (!match) throw new RangeError(`"${value}" is not a duration like 4h`);
  const ms = Number(match[1]) *
    ({ m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as "m" | "h" | "d"]);
  return ms;
}

const Params = z.strictObject({
  for: z.string().default("4h").refine((v) => {
    try {
      const ms = silenceMs(v);
      return ms > 0 && ms <= 30 * 86_400_000;
    } catch {
      return false;
    }
  }, "must be a duration from 1m to 30d, e.g. 4h"),
  scope: z.enum(["fingerprint", "detector"]).default("fingerprint"),
  comment: z.string().max(500).default(""),
});

/** What the button run passes in `ctx.settings`. */
const Settings = z.object({
  silence: z.custom<
    (
      request: {
        forMs: number;
        scope: "fingerprint" | "detector";
        comment: string;
      },
    ) => Promise<{ id: string; ends_at: string }>
  >((v) => typeof v === "function"),
});

export default defineAction({
  name: "silence",
  aliases: [],
  params: Params,
  sideEffects: true,
  timeoutMs: 10_000,
  async run(params, ctx) {
    const settings = Settings.safeParse(ctx.settings);
    if (!settings.success) {
      throw new TypeError(
        "silence runs only from a button of an alert with storm control",
      );
    }
    const made = await settings.data.silence({
      forMs: silenceMs(params.for),
      scope: params.scope,
      comment: params.comment,
    });
    return { silence: made.id, scope: params.scope, until: made.ends_at };
  },
});
