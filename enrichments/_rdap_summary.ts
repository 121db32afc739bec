/**
 * Summarises RDAP (RFC 9083) answers for people: the fields of an "ip network" object, its registrant
 * and abuse contacts (from jCard, RFC 7095), its registration dates, and the title of an error body.
 *
 * @module
 */
import { rangeToCidrs } from "../core/plugin.ts";

/** A registrant or abuse contact, from an RDAP entity's vCard. */
export interface RdapContact {
  handle?: string;
  name?: string;
  kind?: string;
  email?: string;
  phone?: string;
  address?: string;
}

/** What people need from an RDAP "ip network" object. */
export interface RdapNetwork {
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

/** Picks the fields people need from an RFC 9083 "ip network" object. */
export function parseRdapNetwork(body: unknown): RdapNetwork {
  const net = record(body);
  if (net.objectClassName !== "ip network") {
    throw new TypeError(
      `Expected an RDAP "ip network" object, got ${
        JSON.stringify(net.objectClassName ?? null)
      }`,
    );
  }
  const out: RdapNetwork = {};
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

/** `: <title>` from an RFC 9083 error body, or "". */
export function errorTitle(text: string): string {
  try {
    const title = record(JSON.parse(text)).title;
    return typeof title === "string" ? `: ${title.slice(0, 200)}` : "";
  } catch {
    return "";
  }
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

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? value as Record<string, unknown>
    : {};
}
