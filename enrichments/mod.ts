/**
 * Built-in enrichments, imported only when a detector uses them (cold start matters: one process per
 * alert is how the original ran).
 *
 * @module
 */
import type { BuiltinPlugin } from "../core/plugins/registry.ts";
import { importLazy } from "../core/lazy.ts";
import type { EnrichmentPlugin } from "../core/plugin.ts";

// deno-lint-ignore no-explicit-any
type Builtin = BuiltinPlugin<EnrichmentPlugin<any>>;

/** Built-in enrichment descriptors. */
export const builtinEnrichments: Builtin[] = [
  {
    name: "reverse_dns",
    aliases: ["reverse_dns_lookup", "get_reverse_dns"],
    url: new URL("./reverse_dns.ts", import.meta.url).href,
    load: () => importLazy("enrichments/reverse_dns.ts"),
  },
  {
    name: "http_api",
    aliases: ["api_lookup"],
    url: new URL("./http_api.ts", import.meta.url).href,
    load: () => importLazy("enrichments/http_api.ts"),
  },
  {
    name: "mysql",
    aliases: ["get_data_from_db"],
    url: new URL("./mysql.ts", import.meta.url).href,
    load: () => importLazy("enrichments/mysql.ts"),
  },
  {
    name: "elasticsearch",
    aliases: ["elastic_logs"],
    url: new URL("./elasticsearch.ts", import.meta.url).href,
    load: () => importLazy("enrichments/elasticsearch.ts"),
  },
  {
    name: "whois",
    aliases: ["whois_info"],
    url: new URL("./whois.ts", import.meta.url).href,
    load: () => importLazy("enrichments/whois.ts"),
  },
];
