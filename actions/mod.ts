/**
 * Built-in actions, imported only when a detector uses them.
 *
 * @module
 */
import type { BuiltinPlugin } from "../core/registry.ts";
import type { ActionPlugin } from "../core/plugin.ts";

// deno-lint-ignore no-explicit-any
type Builtin = BuiltinPlugin<ActionPlugin<any>>;

/** Built-in action descriptors. */
export const builtinActions: Builtin[] = [
  {
    name: "pass_to_mail",
    url: new URL("./pass_to_mail.ts", import.meta.url).href,
    load: () => import("./pass_to_mail.ts"),
  },
  {
    name: "jira_create",
    url: new URL("./jira_create.ts", import.meta.url).href,
    load: () => import("./jira_create.ts"),
  },
  {
    name: "forward_mail",
    url: new URL("./forward_mail.ts", import.meta.url).href,
    load: () => import("./forward_mail.ts"),
  },
  {
    name: "http_request",
    url: new URL("./http_request.ts", import.meta.url).href,
    load: () => import("./http_request.ts"),
  },
];
