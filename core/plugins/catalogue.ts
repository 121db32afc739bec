/**
 * The built-in plugins as data: kind, name, aliases and the module's path from the project root. The
 * host knows no plugin: the registry imports a built-in by its path (`importLazy`) only when a detector
 * uses it, so nothing here loads a plugin, and a plugin's own declaration (`name`, `aliases`) must agree
 * with its row (tests/catalogue_test.ts compares them; `bundle.ts` preloads the same paths).
 *
 * @module
 */

/** One built-in plugin. */
export interface CatalogueRow {
  kind: "enrichment" | "action";
  /** The name detectors use; the module's default export declares the same. */
  name: string;
  /** Other names for it (the original Blitz names); the module declares the same. */
  aliases: readonly string[];
  /** The module, from the project root (an `importLazy` path). */
  path: string;
  /** The module declares a `check` hook, so `blitz check` loads it to run it (and only then). */
  checks?: true;
}

/** Every built-in enrichment and action. */
export const CATALOGUE: readonly CatalogueRow[] = [
  {
    kind: "enrichment",
    name: "reverse_dns",
    aliases: ["reverse_dns_lookup", "get_reverse_dns"],
    path: "enrichments/reverse_dns.ts",
  },
  {
    kind: "enrichment",
    name: "http_api",
    aliases: ["api_lookup"],
    path: "enrichments/http_api.ts",
    checks: true,
  },
  {
    kind: "enrichment",
    name: "mysql",
    aliases: ["get_data_from_db"],
    path: "enrichments/mysql.ts",
    checks: true,
  },
  {
    kind: "enrichment",
    name: "elasticsearch",
    aliases: ["elastic_logs"],
    path: "enrichments/elasticsearch.ts",
  },
  {
    kind: "enrichment",
    name: "whois",
    aliases: ["whois_info"],
    path: "enrichments/whois.ts",
  },
  {
    kind: "action",
    name: "pass_to_mail",
    aliases: [],
    path: "actions/pass_to_mail.ts",
  },
  {
    kind: "action",
    name: "jira_create",
    aliases: [],
    path: "actions/jira_create.ts",
    checks: true,
  },
  {
    kind: "action",
    name: "forward_mail",
    aliases: [],
    path: "actions/forward_mail.ts",
    checks: true,
  },
  {
    kind: "action",
    name: "http_request",
    aliases: [],
    path: "actions/http_request.ts",
    checks: true,
  },
  {
    kind: "action",
    name: "silence",
    aliases: [],
    path: "actions/silence.ts",
  },
  {
    kind: "action",
    name: "ack",
    aliases: [],
    path: "actions/ack.ts",
  },
];
