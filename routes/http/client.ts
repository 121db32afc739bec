/**
 * The client of a request: the remote address of the connection, which `Deno.serve` passes as the
 * handler's info (Hono's `c.env`), or, when that address is one of `trusted_proxies`, the address the
 * proxy reports in `X-Forwarded-For` (read from the right: the first address that is not itself a
 * trusted proxy). Anyone else's `X-Forwarded-For` is the client's to choose and is ignored.
 *
 * Rate limits key clients with {@link rateKey}: an IPv4 address as it is, an IPv6 address by its /64
 * (one subscriber or host gets a whole /64 and can use any address in it).
 *
 * @module
 */
import type { Context } from "hono";
import {
  type Cidr,
  cidrContains,
  formatIp,
  parseCidr,
  type ParsedIp,
  parseIp,
  unmapV4,
} from "../../core/ip.ts";

/** The `trusted_proxies` of the config, parsed once. */
export class TrustedProxies {
  #blocks: Cidr[];

  /** `cidrs` as the config gives them (validated there). */
  constructor(cidrs: readonly string[] = []) {
    this.#blocks = cidrs.map(parseCidr);
  }

  /** True when `address` (the connection's remote address) is a trusted proxy. */
  trusts(address: string | undefined): boolean {
    const ip = parsed(address);
    return ip !== undefined && this.#blocks.some((b) => cidrContains(b, ip));
  }

  /** The client behind a connection from `remote` with these request headers. */
  clientOf(remote: string | undefined, headers: Headers): string | undefined {
    if (!this.trusts(remote)) return remote;
    const hops = (headers.get("x-forwarded-for") ?? "").split(",")
      .map((hop) => hop.trim()).filter((hop) => hop !== "");
    for (let i = hops.length - 1; i >= 0; i--) {
      const ip = parsed(hops[i]);
      if (ip === undefined) return remote; // a hop we cannot read: believe no more of the list
      const text = formatIp(ip);
      if (!this.trusts(text)) return text;
    }
    return remote;
  }
}

function parsed(address: string | undefined): ParsedIp | undefined {
  if (address === undefined) return undefined;
  try {
    return unmapV4(parseIp(address.replace(/^\[(.*)\]$/, "$1")));
  } catch {
    return undefined;
  }
}

/** The connection's remote address in a Hono context (`c.env` is Deno.serve's info). */
export function remoteAddress(c: Context): string | undefined {
  const env = c.env as { remoteAddr?: { hostname?: unknown } } | undefined;
  const host = env?.remoteAddr?.hostname;
  return typeof host === "string" ? host : undefined;
}

/**
 * The request's client: the remote address, or what a trusted proxy says (see the module doc);
 * undefined when there is none (`app.request()` in tests).
 */
export function clientIp(
  c: Context,
  proxies: TrustedProxies = NO_PROXIES,
): string | undefined {
  return proxies.clientOf(remoteAddress(c), c.req.raw.headers);
}

const NO_PROXIES = new TrustedProxies();
const parsedLists = new WeakMap<readonly string[], TrustedProxies>();

/** The {@link TrustedProxies} of a config's list, parsed once per list (a reload brings a new one). */
export function trustedProxies(cidrs: readonly string[]): TrustedProxies {
  let proxies = parsedLists.get(cidrs);
  if (!proxies) parsedLists.set(cidrs, proxies = new TrustedProxies(cidrs));
  return proxies;
}

/** The rate-limit key of a client address: IPv4 exact, IPv6 by /64, `unknown` without one. */
export function rateKey(address: string | undefined): string {
  const ip = parsed(address);
  if (ip === undefined) return address ?? "unknown";
  if (ip.version === 4) return formatIp(ip);
  const prefix = (ip.value >> 64n) << 64n;
  return `${formatIp({ version: 6, value: prefix })}/64`;
}
