/**
 * The check step of `safeFetch`: before each hop, the scheme, the host allowlist and every address
 * the host resolves to are held against the policy, with IP literals parsed and classified the way WHATWG
 * URL reads them. Re-exported (the public parts) by `safe_fetch.ts`.
 *
 * @module
 */
import { formatIp, type ParsedIp, parseIp } from "../ip.ts";

/** What {@linkcode safeFetch} lets through. */
export interface SafeFetchPolicy {
  /** If non-empty, only these hostnames: exact (`api.example.com`) or subdomains (`*.example.com`). */
  allowHosts?: string[];
  /**
   * Allow loopback, private (RFC 1918, CGNAT 100.64/10, ULA fc00::/7), link-local, unspecified,
   * multicast and reserved addresses. Cloud metadata addresses stay denied. @default false
   */
  allowPrivate?: boolean;
  /** Allow cloud metadata addresses (169.254.169.254, fd00:ec2::254, …), even with allowPrivate. @default false */
  allowMetadata?: boolean;
  /** Redirects followed before giving up; each hop is checked again. @default 3 */
  maxRedirects?: number;
  /** Resolves a hostname to IP addresses for the check. @default Deno.resolveDns A + AAAA */
  resolve?: (host: string) => Promise<string[]> | string[];
}

/** A request refused by the policy before any connection was made. */
export class BlockedRequestError extends Error {
  override name = "BlockedRequestError";
}

/**
 * Cloud instance metadata endpoints, never opened by `allowPrivate`: AWS/GCP/Azure/OCI, AWS IPv6, AWS
 * ECS task credentials, Alibaba, Tencent (169.254.0.23), EKS Pod Identity (169.254.170.23) and Azure
 * WireServer (168.63.129.16, a public address: the class is by address, not by range).
 */
const METADATA_ADDRESSES = new Set([
  "169.254.169.254",
  "fd00:ec2::254",
  "169.254.170.2",
  "100.100.100.200",
  "169.254.0.23",
  "169.254.170.23",
  "fd00:ec2::23",
  "168.63.129.16",
]);
const IP_CHARS = /^[0-9a-fA-FxX.:]+$/;
const DOTTED_V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * Tells whether an IP literal is loopback, private, link-local, metadata, unspecified, multicast or reserved.
 * Accepts IPv4, IPv6 (with or without brackets), v4-mapped IPv6 and the odd IPv4 forms WHATWG URL accepts
 * (`2130706433`, `0x7f000001`, `017700000001`, `127.1`); throws TypeError for anything else.
 */
export function isPrivateAddress(ip: string): boolean {
  return classify(parseUrlIp(ip).bytes) !== null;
}

/** Tells whether an IP literal is a cloud metadata address (also in v4-mapped or NAT64 form). */
export function isMetadataAddress(ip: string): boolean {
  return isMetadata(parseUrlIp(ip));
}

/** What {@link checkUrl} approved: the host's addresses, and whether the host was an IP literal. */
export interface CheckedHost {
  addresses: string[];
  literal: boolean;
}

/**
 * Refuses a hop (scheme, allowlist, loopback name, resolved addresses) before any connection is made;
 * returns the addresses it approved, the only ones the connection may use.
 */
export async function checkUrl(
  url: URL,
  policy: SafeFetchPolicy,
  signal: AbortSignal | undefined,
): Promise<CheckedHost> {
  signal?.throwIfAborted();
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new BlockedRequestError(
      `Blocked request: scheme "${url.protocol}" is not allowed`,
    );
  }
  const host = url.hostname.replace(/\.$/, "");
  const allowHosts = policy.allowHosts ?? [];
  if (
    allowHosts.length > 0 &&
    !allowHosts.some((pattern) => hostMatches(host, pattern))
  ) {
    throw new BlockedRequestError(
      `Blocked request to ${host}: host is not in the allowlist`,
    );
  }

  let addresses: string[];
  const literal = host.startsWith("[") || DOTTED_V4.test(host);
  if (literal) {
    addresses = [host];
  } else if (
    (host === "localhost" || host.endsWith(".localhost")) &&
    !policy.allowPrivate
  ) {
    throw new BlockedRequestError(`Blocked request to ${host}: loopback name`);
  } else {
    addresses = await (policy.resolve ?? ((name: string) =>
      resolveHost(name, signal)))(host);
    signal?.throwIfAborted();
    if (addresses.length === 0) {
      throw new BlockedRequestError(
        `Blocked request to ${host}: host has no addresses`,
      );
    }
  }
  for (const address of addresses) {
    const reason = denyReason(address, policy);
    if (reason) {
      throw new BlockedRequestError(
        `Blocked request to ${host}: ${address} is ${reason}`,
      );
    }
  }
  return { addresses, literal };
}

function denyReason(address: string, policy: SafeFetchPolicy): string | null {
  let parsed: ParsedIp;
  try {
    parsed = parseUrlIp(address);
  } catch {
    return "not an IP address";
  }
  if (isMetadata(parsed) && !policy.allowMetadata) {
    return "a cloud metadata address";
  }
  const kind = classify(parsed.bytes);
  if (kind && !policy.allowPrivate) return `a ${kind} address`;
  return null;
}

function hostMatches(host: string, pattern: string): boolean {
  const lower = pattern.trim().toLowerCase().replace(/\.$/, "");
  if (lower.startsWith("*.")) return host.endsWith(lower.slice(1));
  try {
    const bracketed = lower.includes(":") && !lower.startsWith("[")
      ? `[${lower}]`
      : lower;
    return new URL(`http://${bracketed}/`).hostname === host;
  } catch {
    return lower === host;
  }
}

async function resolveHost(
  host: string,
  signal: AbortSignal | undefined,
): Promise<string[]> {
  const options = signal ? { signal } : {};
  const lookup = (type: "A" | "AAAA") =>
    Deno.resolveDns(host, type, options).catch((err: unknown) => {
      if (err instanceof Deno.errors.NotFound) return [];
      throw err;
    });
  const [v4, v6] = await Promise.all([lookup("A"), lookup("AAAA")]);
  return [...v4, ...v6];
}

/**
 * Parses an IP literal into 4 (IPv4) or 16 (IPv6) bytes, normalising like WHATWG URL first (so the odd
 * IPv4 forms a URL accepts are read as a request would read them), then with the one IP parser.
 */
function parseUrlIp(input: string): ParsedIp {
  const ip = input.trim().replace(/^\[(.*)\]$/, "$1");
  if (!IP_CHARS.test(ip)) throw new TypeError(`Not an IP address: ${input}`);
  let hostname: string;
  try {
    hostname =
      new URL(ip.includes(":") ? `http://[${ip}]/` : `http://${ip}/`).hostname;
  } catch {
    throw new TypeError(`Not an IP address: ${input}`);
  }
  if (!DOTTED_V4.test(hostname) && !hostname.startsWith("[")) {
    throw new TypeError(`Not an IP address: ${input}`);
  }
  return parseIp(hostname);
}

/** The IPv4 address carried inside an IPv6 one (v4-mapped, NAT64 well-known prefix, 6to4), if any. */
function embeddedV4(b: Uint8Array): Uint8Array | null {
  if (b.length === 4) return b;
  const prefixZero = (n: number) => b.subarray(0, n).every((x) => x === 0);
  if (prefixZero(10) && b[10] === 0xff && b[11] === 0xff) return b.subarray(12);
  if (
    b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b &&
    b.subarray(4, 12).every((x) => x === 0)
  ) {
    return b.subarray(12);
  }
  if (b[0] === 0x20 && b[1] === 0x02) return b.subarray(2, 6);
  return null;
}

function isMetadata(address: ParsedIp): boolean {
  const v4 = embeddedV4(address.bytes);
  return METADATA_ADDRESSES.has(v4 ? v4.join(".") : formatIp(address));
}

/** Names the non-public range an address falls in, or null for a public address. */
function classify(bytes: Uint8Array): string | null {
  const v4 = embeddedV4(bytes);
  if (v4) return classifyV4(v4);
  const [b0 = 0, b1 = 0] = bytes;
  if (bytes.subarray(0, 15).every((x) => x === 0)) {
    return bytes[15] === 1 ? "loopback" : "unspecified";
  }
  if (bytes.subarray(0, 12).every((x) => x === 0)) {
    return "reserved (IPv4-compatible)";
  }
  if (b0 === 0x00 && b1 === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b) {
    return "private (local NAT64)";
  }
  if (
    b0 === 0x01 && b1 === 0x00 && bytes.subarray(2, 8).every((x) => x === 0)
  ) return "reserved (discard)";
  if (b0 === 0x20 && b1 === 0x01 && bytes[2] === 0x0d && bytes[3] === 0xb8) {
    return "reserved (documentation)";
  }
  if ((b0 & 0xfe) === 0xfc) return "private (unique local)";
  if (b0 === 0xfe && (b1 & 0xc0) === 0x80) return "link-local";
  if (b0 === 0xfe && (b1 & 0xc0) === 0xc0) return "reserved (site-local)";
  if (b0 === 0xff) return "multicast";
  return null;
}

function classifyV4(bytes: Uint8Array): string | null {
  const [a = 0, b = 0, c = 0] = bytes;
  if (a === 0) return "unspecified";
  if (a === 127) return "loopback";
  if (
    a === 10 || (a === 172 && (b & 0xf0) === 16) || (a === 192 && b === 168)
  ) return "private";
  if (a === 100 && (b & 0xc0) === 64) return "private (CGNAT)";
  if (a === 169 && b === 254) return "link-local";
  if (a === 192 && b === 0 && c === 0) return "reserved (IETF protocol)";
  if (a === 198 && (b & 0xfe) === 18) return "reserved (benchmarking)";
  if (a >= 224 && a <= 239) return "multicast";
  if (a >= 240) return "reserved";
  return null;
}
