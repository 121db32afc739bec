/**
 * Built-in actions, imported only when a detector uses them.
 *
 * @module
 */
import type { BuiltinPlugin } from "../core/plugins/registry.ts";
import { importLazy } from "../core/lazy.ts";
import type { ActionPlugin } from "../core/plugin.ts";

// deno-lint-ignore no-explicit-any
type Builtin = BuiltinPlugin<ActionPlugin<any>>;

/** Built-in action descriptors. */
export const builtinActions: Builtin[] = [
  {
    name: "pass_to_mail",
    url: new URL("./pass_to_mail.ts", import.meta.url).href,
    load: () => importLazy("actions/pass_to_mail.ts"),
  },
  {
    name: "jira_create",
    url: new URL("./jira_create.ts", import.meta.url).href,
    load: () => importLazy("actions/jira_create.ts"),
  },
  {
    name: "forward_mail",
    url: new URL("./forward_mail.ts", import.meta.url).href,
    load: () => importLazy("actions/forward_mail.ts"),
  },
  {
    name: "http_request",
    url: new URL("./http_request.ts", import.meta.url).href,
    load: () => importLazy("actions/http_request.ts"),
  },
];
