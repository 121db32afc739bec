/**
 * `whois` (the original's `whois_info`): who holds an IP address, from RDAP (RFC 9083) over HTTPS.
 *
 * The registry is chosen from the bundled IANA bootstrap data (`rdap_bootstrap.json`, longest-prefix
 * match, ARIN as fallback since it redirects); `rdap_base_url` in the settings overrides it. Requests go
 * through `safeFetch` to the five RIRs (plus the override's host) only. Never a shell.
 *
 * Settings (`plugins.whois`): `rdap_base_url`, `allow_private` (let the RDAP server be a private address,
 * for tests and in-house mirrors), `allow_hosts` (extra hosts redirects may go to).
 *
 * The registry is picked by `_rdap_bootstrap.ts`, the answer summarised by `_rdap_summary.ts`.
 *
 * @module
 */
import { z } from "zod";
import {
  defineEnrichment,
  isPrivateAddress,
  readTextCapped,
  safeFetch,
} from "../core/plugin.ts";
import { rdapBaseFor } from "./_rdap_bootstrap.ts";
import {
  errorTitle,
  parseRdapNetwork,
  type RdapNetwork,
} from "./_rdap_summary.ts";

export { rdapBaseFor, type RdapBootstrap } from "./_rdap_bootstrap.ts";
export {
  parseRdapNetwork,
  type RdapContact,
  type RdapNetwork,
} from "./_rdap_summary.ts";

/** What `whois` returns: the network's summary plus the address and the server that answered. */
export interface WhoisResult extends RdapNetwork {
  ip: string;
  /** Set (and nothing else) for private, loopback and other reserved addresses, which RDAP does not cover. */
  reserved?: true;
  /** The RDAP server that answered. */
  source?: string;
}

const RIR_HOSTS = [
  "rdap.arin.net",
  "rdap.db.ripe.net",
  "rdap.apnic.net",
  "rdap.lacnic.net",
  "rdap.afrinic.net",
];
const MAX_BYTES = 1_000_000;

const Settings = z.looseObject({
  rdap_base_url: z.url({ protocol: /^https?$/ }).optional(),
  allow_private: z.boolean().default(false),
  allow_hosts: z.array(z.string()).default([]),
});

export default defineEnrichment({
  name: "whois",
  aliases: ["whois_info"],
  params: z.object({
    ip: z.union([z.ipv4(), z.ipv6()], {
      error: "ip must be an IPv4 or IPv6 address",
    }),
  }),
  positional: ["ip"],
  permissions: { net: true },
  timeoutMs: 8_000,
  async run({ ip }, ctx): Promise<WhoisResult> {
    const settings = Settings.parse(ctx.settings);
    if (isPrivateAddress(ip)) return { ip, reserved: true };
    const base = withSlash(settings.rdap_base_url ?? rdapBaseFor(ip));
    const url = new URL(`ip/${ip}`, base);
    const allowHosts = [
      ...RIR_HOSTS,
      new URL(base).hostname,
      ...settings.allow_hosts,
    ];
    const response = await safeFetch(url, {
      headers: { accept: "application/rdap+json, application/json;q=0.9" },
      signal: ctx.signal,
    }, { allowHosts, allowPrivate: settings.allow_private });
    const source = new URL(response.url || url).hostname;
    const text = await readTextCapped(response, {
      maxBytes: MAX_BYTES,
      host: source,
    });
    if (response.status === 404) {
      throw new Error(`No RDAP record for ${ip} at ${source} (HTTP 404)`);
    }
    if (!response.ok) {
      throw new Error(
        `RDAP lookup for ${ip} failed: HTTP ${response.status} from ${source}${
          errorTitle(text)
        }`,
      );
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new SyntaxError(`Invalid JSON from ${source}`);
    }
    return { ip, source, ...parseRdapNetwork(body) };
  },
});

function withSlash(url: string): string {
  return url.endsWith("/") ? url : `${url}/`;
}
