/**
 * Which RDAP server covers an IP: a longest-prefix match in the bundled IANA bootstrap data
 * (`rdap_bootstrap.json`: IANA's files as the npm package `rdap` ships them, publication dates kept),
 * with its fallback (ARIN, which redirects) when nothing matches. A v4-mapped IPv6 address is looked
 * up as its IPv4 address.
 *
 * @module
 */
import bootstrapData from "./rdap_bootstrap.json" with { type: "json" };
import { parseIp, unmapV4 } from "../core/plugin.ts";

/** RDAP bootstrap data for IPs, in the IANA file structure: `services` of `[[cidr, …], [base URL, …]]`. */
export interface RdapBootstrap {
  fallback: string;
  ipv4: { services: string[][][] };
  ipv6: { services: string[][][] };
}

/** The RDAP base URL for an IP: longest-prefix match in the bootstrap data, else its fallback. */
export function rdapBaseFor(
  ip: string,
  bootstrap: RdapBootstrap = bootstrapData,
): string {
  // `::ffff:1.1.1.1` is 1.1.1.1: the IPv4 registry answers for it, not the IPv6 fallback.
  const address = unmapV4(parseIp(ip));
  const bits = address.version === 4 ? 32 : 128;
  let best: { length: number; url: string } | undefined;
  for (
    const [cidrs = [], urls = []]
      of (address.version === 4 ? bootstrap.ipv4 : bootstrap.ipv6).services
  ) {
    const url = urls.find((u) => u.startsWith("https://")) ?? urls[0];
    if (url === undefined) continue;
    for (const cidr of cidrs) {
      const [prefix = "", lengthText = ""] = cidr.split("/");
      const network = parseIp(prefix);
      const length = Number(lengthText);
      if (
        network.version !== address.version || !Number.isInteger(length) ||
        length < 0 || length > bits
      ) continue;
      const shift = BigInt(bits - length);
      if (
        (network.value >> shift) === (address.value >> shift) &&
        (!best || length > best.length)
      ) best = { length, url };
    }
  }
  return best?.url ?? bootstrap.fallback;
}
