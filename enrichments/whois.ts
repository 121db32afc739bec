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
 * @module
 */
import { z } from "zod";
import {
  defineEnrichment,
  isPrivateAddress,
  safeFetch,
} from "../core/plugin.ts";
import bootstrapData from "./rdap_bootstrap.json" with { type: "json" };

/** RDAP bootstrap data for IPs, in the IANA file structure: `services` of `[[cidr, …], [base URL, …]]`. */
export interface RdapBootstrap {
  fallback: string;
  ipv4: { services: string[][][] };
  ipv6: { services: string[][][] };
}

/** A registrant or abuse contact, from an RDAP entity's vCard. */
export interface RdapContact {
  handle?: string;
  name?: string;
  kind?: string;
  email?: string;
  phone?: string;
  address?: string;
}

/** What `whois` returns. */
export interface WhoisResult {
  ip: string;
  /** Set (and nothing else) for private, loopback and other reserved addresses, which RDAP does not cover. */
  reserved?: true;
  /** The RDAP server that answered. */
  source?: string;
  handle?: string;
  name?: string;
  type?: string;
  cidr?: string[];
  range?: string;
  country?: string;
  parent_handle?: string;
  registrant?: RdapContact[];
  abuse?: RdapContact[];
  registered?: string;
  last_changed?: string;
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
    const text = await readText(response, source);
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

/** The RDAP base URL for an IP: longest-prefix match in the bootstrap data, else its fallback. */
export function rdapBaseFor(
  ip: string,
  bootstrap: RdapBootstrap = bootstrapData,
): string {
  const address = parseIp(ip);
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

/** Picks the fields people need from an RFC 9083 "ip network" object. */
export function parseRdapNetwork(
  body: unknown,
): Omit<WhoisResult, "ip" | "source" | "reserved"> {
  const net = record(body);
  if (net.objectClassName !== "ip network") {
    throw new TypeError(
      `Expected an RDAP "ip network" object, got ${
        JSON.stringify(net.objectClassName ?? null)
      }`,
    );
  }
  const out: Omit<WhoisResult, "ip" | "source" | "reserved"> = {};
  for (
    const [from, to] of [
      ["handle", "handle"],
      ["name", "name"],
      ["type", "type"],
      ["country", "country"],
      ["parentHandle", "parent_handle"],
    ] as const
  ) {
    if (typeof net[from] === "string") out[to] = net[from];
  }
  const cidr0 = Array.isArray(net.cidr0_cidrs)
    ? net.cidr0_cidrs.map(record)
    : [];
  const cidrs = cidr0.flatMap((c) => {
    const prefix = c.v4prefix ?? c.v6prefix;
    return typeof prefix === "string" && typeof c.length === "number"
      ? [`${prefix}/${c.length}`]
      : [];
  });
  const { startAddress: start, endAddress: end } = net;
  if (typeof start === "string" && typeof end === "string") {
    out.range = `${start} - ${end}`;
    if (cidrs.length === 0) cidrs.push(...rangeToCidrs(start, end));
  }
  if (cidrs.length > 0) out.cidr = cidrs;
  const contacts = collectEntities(net.entities);
  const registrant = contacts.filter((c) => c.roles.includes("registrant")).map(
    (c) => c.contact,
  );
  const abuse = contacts.filter((c) => c.roles.includes("abuse")).map((c) =>
    c.contact
  );
  if (registrant.length > 0) out.registrant = registrant;
  if (abuse.length > 0) out.abuse = abuse;
  for (const event of Array.isArray(net.events) ? net.events.map(record) : []) {
    if (typeof event.eventDate !== "string") continue;
    if (event.eventAction === "registration") out.registered = event.eventDate;
    if (event.eventAction === "last changed") {
      out.last_changed = event.eventDate;
    }
  }
  return out;
}

/** Walks entities and their nested entities; each handle once. */
function collectEntities(
  entities: unknown,
  seen = new Set<string>(),
): { roles: string[]; contact: RdapContact }[] {
  if (!Array.isArray(entities)) return [];
  return entities.map(record).flatMap((entity) => {
    const key = typeof entity.handle === "string"
      ? entity.handle
      : JSON.stringify(entity.vcardArray ?? null);
    const nested = collectEntities(entity.entities, seen);
    if (seen.has(key)) return nested;
    seen.add(key);
    const roles = Array.isArray(entity.roles)
      ? entity.roles.filter((r): r is string => typeof r === "string")
      : [];
    const contact: RdapContact = typeof entity.handle === "string"
      ? { handle: entity.handle }
      : {};
    Object.assign(contact, parseVcard(entity.vcardArray));
    return [{ roles, contact }, ...nested];
  });
}

/** jCard (RFC 7095): `["vcard", [[name, params, type, value, …], …]]`. */
function parseVcard(vcardArray: unknown): RdapContact {
  const properties = Array.isArray(vcardArray) && Array.isArray(vcardArray[1])
    ? vcardArray[1]
    : [];
  const out: RdapContact = {};
  const put = (
    field: "name" | "kind" | "email" | "phone" | "address",
    value: string,
  ) => {
    const v = value.trim();
    if (v && out[field] === undefined) out[field] = v;
  };
  for (const property of properties) {
    if (!Array.isArray(property)) continue;
    const [name, params, , ...values] = property as [
      unknown,
      unknown,
      unknown,
      ...unknown[],
    ];
    const text = values.flat(2).filter((v) =>
      typeof v === "string" && v.trim() !== ""
    ).join(", ");
    if (name === "fn") put("name", text);
    else if (name === "kind") put("kind", text);
    else if (name === "email") put("email", text);
    else if (name === "tel") put("phone", text.replace(/^tel:/i, ""));
    else if (name === "adr") {
      const label = record(params).label;
      put(
        "address",
        typeof label === "string" ? label.replace(/\s*\n\s*/g, ", ") : text,
      );
    }
  }
  return out;
}

interface ParsedIp {
  version: 4 | 6;
  value: bigint;
}

function parseIp(ip: string): ParsedIp {
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

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? value as Record<string, unknown>
    : {};
}

function withSlash(url: string): string {
  return url.endsWith("/") ? url : `${url}/`;
}

/** `: <title>` from an RFC 9083 error body, or "". */
function errorTitle(text: string): string {
  try {
    const title = record(JSON.parse(text)).title;
    return typeof title === "string" ? `: ${title.slice(0, 200)}` : "";
  } catch {
    return "";
  }
}

/** Reads the body as UTF-8, up to 1 MB. */
async function readText(response: Response, host: string): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return text + decoder.decode();
    total += value.byteLength;
    if (total > MAX_BYTES) {
      await reader.cancel();
      throw new RangeError(
        `RDAP response from ${host} exceeds ${MAX_BYTES} bytes`,
      );
    }
    text += decoder.decode(value, { stream: true });
  }
}
