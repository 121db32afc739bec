/**
 * `reverse_dns`: the PTR names of an IP address.
 *
 * Settings (`plugins.reverse_dns` in the global config): `nameserver`, `"ip"` or `"ip:port"`
 * (`"[v6]:port"` for IPv6); the system resolver when absent.
 *
 * @module
 */
import { z } from "zod";
import { defineEnrichment, isIpLiteral, ptrName } from "../core/plugin.ts";

const Settings = z.object({ nameserver: z.string().optional() });

/** What `reverse_dns` returns. */
export interface ReverseDnsResult {
  ip: string;
  /** PTR names without the trailing dot; empty when the address has none (NXDOMAIN). */
  hostnames: string[];
}

export default defineEnrichment({
  name: "reverse_dns",
  aliases: ["reverse_dns_lookup", "get_reverse_dns"],
  params: z.object({
    ip: z.string().refine(isIpLiteral, {
      error: "ip must be an IPv4 or IPv6 address",
    }),
  }),
  positional: ["ip"],
  permissions: { net: true },
  timeoutMs: 3000,
  async run({ ip }, ctx): Promise<ReverseDnsResult> {
    const ptrName = toPtrName(ip);
    const { nameserver } = Settings.parse(ctx.settings);
    const options: Deno.ResolveDnsOptions = { signal: ctx.signal };
    if (nameserver) options.nameServer = parseNameserver(nameserver);
    try {
      const names = await Deno.resolveDns(ptrName, "PTR", options);
      return { ip, hostnames: names.map((name) => name.replace(/\.$/, "")) };
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      if (err instanceof Deno.errors.NotFound) return { ip, hostnames: [] };
      const reason = err instanceof Error ? err.message : String(err);
      throw new Error(`Reverse DNS lookup for ${ip} failed: ${reason}`, {
        cause: err,
      });
    }
  },
});

/** The reverse-lookup name of an IP: `d.c.b.a.in-addr.arpa` or 32 nibbles then `ip6.arpa`. */
export function toPtrName(ip: string): string {
  if (!isIpLiteral(ip)) throw new TypeError(`Invalid IP address: ${ip}`);
  return ptrName(ip);
}

/** Parses the `nameserver` setting: `ip`, `ip:port` or `[ipv6]:port`. */
function parseNameserver(value: string): { ipAddr: string; port: number } {
  const match = /^\[([^\]]+)\](?::(\d+))?$/.exec(value) ??
    /^([^:]+)(?::(\d+))?$/.exec(value);
  const ipAddr = match?.[1] ?? (isIpLiteral(value) ? value : "");
  const port = Number(match?.[2] ?? 53);
  if (
    !isIpLiteral(ipAddr) || !Number.isInteger(port) || port < 1 || port > 65535
  ) {
    throw new TypeError(
      `Invalid nameserver setting "${value}": expected "ip" or "ip:port"`,
    );
  }
  return { ipAddr, port };
}
