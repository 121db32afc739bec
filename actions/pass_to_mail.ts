/** `pass_to_mail`: shows a value (placeholders filled) in the email under its `return_name`. */
import { z } from "zod";
import { defineAction } from "../core/plugin.ts";

export default defineAction({
  name: "pass_to_mail",
  aliases: [],
  sideEffects: false,
  params: z.looseObject({ data: z.unknown() }),
  timeoutMs: 1000,
  run: ({ data }) => data ?? null,
});
