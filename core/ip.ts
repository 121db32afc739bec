/**
 * IP addresses: the one parser of IPv4 and IPv6 text (the SSRF check, `reverse_dns` and `whois` all
 * use it), formatting back (RFC 5952), reverse-lookup names and CIDR blocks of a range. Plugins reach it
 * through `core/plugin.ts`.
 *
 * The grammar is strict: dotted-decimal IPv4 without leading zeros (`010.0.0.1` is refused: WHATWG URL
 * reads it as octal, other parsers as decimal), IPv6 as in RFC 4291 with an optional embedded IPv4 tail
 * and optional brackets; no zone ids (`fe80::1%eth0`: a zone names an interface of one host). The odd
 * IPv4 forms a URL accepts (`2130706433`, `0x7f.1`) are the SSRF check's business: it lets `new URL()`
 * normalise them first.
 *
 * @module
 */

/** An IP address: its version, its value as a number and its bytes (4 or 16, network order). */
export interface ParsedIp {
  version: 4 | 6;
  value: bigint;
  bytes: Uint8Array;
}

const V4_PART = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const V6_GROUP = /^[0-9a-f]{1,4}$/i;

/** Parses IPv4 or IPv6 text (brackets allowed around IPv6); throws TypeError for anything else. */
export function parseIp(ip: string): ParsedIp {
  const text = /^\[.*\]$/.test(ip) && ip.includes(":") ? ip.slice(1, -1) : ip;
  const bad = () => new TypeError(`Not an IP address: ${ip}`);
  if (!text.includes(":")) {
    const value = parseV4(text);
    if (value === undefined) throw bad();
    return { version: 4, value, bytes: toBytes(value, 4) };
  }
  let v6 = text;
  const tail = /(?:^|:)(\d+\.\d+\.\d+\.\d+)$/.exec(v6);
  if (tail) {
    const n = parseV4(tail[1]!);
    if (n === undefined) throw bad();
    v6 = `${v6.slice(0, v6.length - tail[1]!.length)}${
      (n >> 16n).toString(16)
    }:${(n & 0xffffn).toString(16)}`;
  }
  const halves = v6.split("::");
  if (halves.length > 2) throw bad();
  const head = halves[0] ? halves[0].split(":") : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const missing = 8 - head.length - rest.length;
  if (
    (halves.length === 2 && missing < 1) ||
    (halves.length === 1 && missing !== 0)
  ) throw bad();
  const groups = [
    ...head,
    ...Array(halves.length === 2 ? missing : 0).fill("0"),
    ...rest,
  ];
  let value = 0n;
  for (const group of groups) {
    if (!V6_GROUP.test(group)) throw bad();
    value = (value << 16n) | BigInt(parseInt(group, 16));
  }
  return { version: 6, value, bytes: toBytes(value, 16) };
}

/** Tells whether `value` is IPv4 or IPv6 text {@linkcode parseIp} accepts. */
export function isIpLiteral(value: string): boolean {
  try {
    parseIp(value);
    return true;
  } catch {
    return false;
  }
}

/** The canonical text of an address: dotted decimal, or RFC 5952 IPv6 (lower case, longest zero run as `::`). */
export function formatIp(address: Pick<ParsedIp, "version" | "value">): string {
  const { value, version } = address;
  if (version === 4) {
    return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 255n)).join(".");
  }
  const groups = Array.from(
    { length: 8 },
    (_, i) => ((value >> BigInt(112 - 16 * i)) & 0xffffn).toString(16),
  );
  // Compress the longest run of two or more zero groups (RFC 5952).
  let bestStart = -1, bestLength = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (bestStart === -1) return groups.join(":");
  return `${groups.slice(0, bestStart).join(":")}::${
    groups.slice(bestStart + bestLength).join(":")
  }`;
}

/** The reverse-lookup name of an IP: `d.c.b.a.in-addr.arpa` or 32 nibbles then `ip6.arpa`. */
export function ptrName(ip: string): string {
  const address = parseIp(ip);
  if (address.version === 4) {
    return `${[...address.bytes].reverse().join(".")}.in-addr.arpa`;
  }
  const hex = address.value.toString(16).padStart(32, "0");
  return `${[...hex].reverse().join(".")}.ip6.arpa`;
}

/** The smallest list of CIDR blocks covering `start`–`end` inclusive (at most 64 blocks). */
export function rangeToCidrs(start: string, end: string): string[] {
  const from = parseIp(start), to = parseIp(end);
  if (from.version !== to.version || from.value > to.value) return [];
  const bits = from.version === 4 ? 32 : 128;
  const out: string[] = [];
  let current = from.value;
  while (current <= to.value && out.length < 64) {
    let size = 0;
    while (size < bits) {
      const next = BigInt(size + 1);
      if (
        (current & ((1n << next) - 1n)) !== 0n ||
        current + (1n << next) - 1n > to.value
      ) break;
      size++;
    }
    out.push(
      `${formatIp({ version: from.version, value: current })}/${bits - size}`,
    );
    current += 1n << BigInt(size);
  }
  return out;
}

function parseV4(text: string): bigint | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => V4_PART.test(p))) {
    return undefined;
  }
  return parts.reduce((acc, p) => (acc << 8n) | BigInt(Number(p)), 0n);
}

function toBytes(value: bigint, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = length - 1, v = value; i >= 0; i--, v >>= 8n) {
    bytes[i] = Number(v & 0xffn);
  }
  return bytes;
}

/** A CIDR block: an address with the first `bits` bits fixed. */
export interface Cidr {
  version: 4 | 6;
  network: bigint;
  bits: number;
}

/** Parses `10.0.0.0/8`, `2001:db8::/32` or a bare address (a /32 or /128); throws TypeError. */
export function parseCidr(text: string): Cidr {
  const [ip = "", prefix, ...extra] = text.trim().split("/");
  const address = parseIp(ip);
  const max = address.version === 4 ? 32 : 128;
  const bits = prefix === undefined ? max : Number(prefix);
  if (
    extra.length > 0 || !Number.isInteger(bits) || bits < 0 || bits > max ||
    (prefix !== undefined && !/^\d{1,3}$/.test(prefix))
  ) throw new TypeError(`Not a CIDR block: ${text}`);
  return { version: address.version, network: maskTo(address, bits), bits };
}

/** Tells whether `ip` lies in `cidr` (a v4-mapped IPv6 address counts as its IPv4 one). */
export function cidrContains(cidr: Cidr, ip: ParsedIp): boolean {
  const address = unmapV4(ip);
  return address.version === cidr.version &&
    maskTo(address, cidr.bits) === cidr.network;
}

/** `::ffff:a.b.c.d` as the IPv4 address it carries; any other address unchanged. */
export function unmapV4(ip: ParsedIp): ParsedIp {
  if (ip.version === 6 && ip.value >> 32n === 0xffffn) {
    const value = ip.value & 0xffffffffn;
    return { version: 4, value, bytes: toBytes(value, 4) };
  }
  return ip;
}

function maskTo(ip: Pick<ParsedIp, "version" | "value">, bits: number): bigint {
  const width = ip.version === 4 ? 32n : 128n;
  const host = width - BigInt(bits);
  return (ip.value >> host) << host;
}
