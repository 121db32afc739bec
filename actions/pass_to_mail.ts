/** `pass_to_mail`: shows a value (placeholders filled) in the email under its `return_name`. */
import { defineAction } from "../core/plugin.ts";

export default defineAction({
  name: "pass_to_mail",
  aliases: [],
  sideEffects: false,
  // No params schema: any object of params is accepted as it is (a schema would only load zod, ~20 ms
  // of a cold ingest, to accept everything).
  timeoutMs: 1000,
  run: ({ data }) => data ?? null,
});
