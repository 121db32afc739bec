/**
 * IP addresses as numbers: parsing IPv4 and IPv6 text to a `bigint`, formatting it back (RFC 5952),
 * and covering an address range with CIDR blocks.
 *
 * @module
 */

/** An IP address as its version and numeric value. */
export interface ParsedIp {
  version: 4 | 6;
  value: bigint;
}

/** Parses an IPv4 or IPv6 address (brackets, zone and embedded IPv4 allowed); throws TypeError otherwise. */
export function parseIp(ip: string): ParsedIp {
  if (!ip.includes(":")) return { version: 4, value: parseV4(ip) };
  let text = ip.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = parseV4(v4[1]!);
    text = `${text.slice(0, v4.index)}${(n >> 16n).toString(16)}:${
      (n & 0xffffn).toString(16)
    }`;
  }
  const halves = text.split("::");
  if (halves.length > 2) throw new TypeError(`Not an IP address: ${ip}`);
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const missing = 8 - head.length - tail.length;
  if (
    (halves.length === 2 && missing < 1) ||
    (halves.length === 1 && missing !== 0)
  ) throw new TypeError(`Not an IP address: ${ip}`);
  const groups = [
    ...head,
    ...Array(halves.length === 2 ? missing : 0).fill("0"),
    ...tail,
  ];
  let value = 0n;
  for (const group of groups) {
    if (!/^[0-9a-f]{1,4}$/i.test(group)) {
      throw new TypeError(`Not an IP address: ${ip}`);
    }
    value = (value << 16n) | BigInt(parseInt(group, 16));
  }
  return { version: 6, value };
}

function parseV4(ip: string): bigint {
  const parts = ip.split(".");
  if (
    parts.length !== 4 ||
    !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)
  ) {
    throw new TypeError(`Not an IP address: ${ip}`);
  }
  return parts.reduce((acc, p) => (acc << 8n) | BigInt(Number(p)), 0n);
}

function formatIp(value: bigint, version: 4 | 6): string {
  if (version === 4) {
    return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 255n)).join(".");
  }
  const groups = Array.from(
    { length: 8 },
    (_, i) => ((value >> BigInt(112 - 16 * i)) & 0xffffn).toString(16),
  );
  // Compress the longest run of zero groups (RFC 5952).
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

/** The smallest list of CIDR blocks covering `start`–`end` inclusive. */
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
    out.push(`${formatIp(current, from.version)}/${bits - size}`);
    current += 1n << BigInt(size);
  }
  return out;
}
