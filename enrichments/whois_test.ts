import assert from "node:assert/strict";
import { pluginContext } from "../tests/_plugin.ts";
import plugin, {
  rdapBaseFor,
  type RdapBootstrap,
  type WhoisResult,
} from "./whois.ts";

const ARIN = "https://rdap.arin.net/registry/";
const RIPE = "https://rdap.db.ripe.net/";
const APNIC = "https://rdap.apnic.net/";
const LACNIC = "https://rdap.lacnic.net/rdap/";
const AFRINIC = "https://rdap.afrinic.net/rdap/";

/** Looks `ip` up with these plugin settings. */
async function run(
  ip: string,
  settings: Record<string, unknown>,
  signal?: AbortSignal,
): Promise<WhoisResult> {
  const ctx = pluginContext({ settings, signal });
  return await plugin.run(plugin.params!.parse({ ip }), ctx) as WhoisResult;
}

/** An ARIN-style answer for 8.8.8.0/24 (abuse contact nested in the registrant, as ARIN does). */
const ARIN_NETWORK = {
  rdapConformance: [
    "nro_rdap_profile_0",
    "rdap_level_0",
    "cidr0",
    "arin_originas0",
  ],
  notices: [{
    title: "Terms of Service",
    description: [
      "By using the ARIN RDAP/Whois service, you are agreeing to the RDAP/Whois Terms of Use",
    ],
  }],
  handle: "NET-8-8-8-0-2",
  startAddress: "8.8.8.0",
  endAddress: "8.8.8.255",
  ipVersion: "v4",
  name: "GOGL",
  type: "DIRECT ALLOCATION",
  parentHandle: "NET-8-0-0-0-2",
  events: [
    { eventAction: "last changed", eventDate: "2023-12-28T17:24:56-05:00" },
    { eventAction: "registration", eventDate: "2023-12-28T17:24:33-05:00" },
  ],
  links: [{
    value: "https://rdap.arin.net/registry/ip/8.8.8.8",
    rel: "self",
    type: "application/rdap+json",
    href: "https://rdap.arin.net/registry/ip/8.8.8.0",
  }],
  entities: [{
    handle: "GOGL",
    vcardArray: ["vcard", [
      ["version", {}, "text", "4.0"],
      ["fn", {}, "text", "Google LLC"],
      [
        "adr",
        {
          label:
            "1600 Amphitheatre Parkway\nMountain View\nCA\n94043\nUnited States",
        },
        "text",
        ["", "", "", "", "", "", ""],
      ],
      ["kind", {}, "text", "org"],
    ]],
    roles: ["registrant"],
    entities: [{
      handle: "ABUSE5250-ARIN",
      vcardArray: ["vcard", [
        ["version", {}, "text", "4.0"],
        [
          "adr",
          {
            label:
              "1600 Amphitheatre Parkway\nMountain View\nCA\n94043\nUnited States",
          },
          "text",
          ["", "", "", "", "", "", ""],
        ],
        ["fn", {}, "text", "Abuse"],
        ["org", {}, "text", "Abuse"],
        ["kind", {}, "text", "group"],
        ["email", {}, "text", "network-abuse@google.com"],
        ["tel", { type: ["work", "voice"] }, "text", "+1-650-253-0000"],
      ]],
      roles: ["abuse"],
      objectClassName: "entity",
    }],
    objectClassName: "entity",
  }],
  port43: "whois.arin.net",
  status: ["active"],
  objectClassName: "ip network",
  cidr0_cidrs: [{ v4prefix: "8.8.8.0", length: 24 }],
};

/** A RIPE-style answer: country set, no cidr0, contacts as separate entities. */
const RIPE_NETWORK = {
  objectClassName: "ip network",
  handle: "2001:67c:2e8::/48",
  startAddress: "2001:67c:2e8::",
  endAddress: "2001:67c:2e8:ffff:ffff:ffff:ffff:ffff",
  ipVersion: "v6",
  name: "RIPE-NCC",
  type: "ASSIGNED PI",
  country: "NL",
  entities: [
    {
      objectClassName: "entity",
      handle: "ORG-RIEN1-RIPE",
      roles: ["registrant"],
      vcardArray: ["vcard", [["version", {}, "text", "4.0"], [
        "fn",
        {},
        "text",
        "Reseaux IP Europeens Network Coordination Centre (RIPE NCC)",
      ], ["kind", {}, "text", "org"]]],
    },
    {
      objectClassName: "entity",
      handle: "OPS4-RIPE",
      roles: ["abuse", "technical"],
      vcardArray: ["vcard", [
        ["version", {}, "text", "4.0"],
        ["fn", {}, "text", "RIPE NCC Operations"],
        ["kind", {}, "text", "group"],
        ["email", { type: "abuse" }, "text", "abuse@ripe.net"],
        ["tel", { type: "voice" }, "uri", "tel:+31205354444"],
      ]],
    },
  ],
  events: [{ eventAction: "registration", eventDate: "2008-03-27T12:42:22Z" }, {
    eventAction: "last changed",
    eventDate: "2022-07-05T09:11:37Z",
  }],
};

interface Fake {
  url: string;
  /** Path and Accept header of each request received. */
  requests: { path: string; accept: string }[];
  close(): Promise<void>;
}

function startRdapFake(
  handler: (req: Request) => Response | Promise<Response>,
): Promise<Fake> {
  const requests: Fake["requests"] = [];
  const { promise, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: resolve,
  }, (req) => {
    requests.push({
      path: new URL(req.url).pathname,
      accept: req.headers.get("accept") ?? "",
    });
    return handler(req);
  });
  return promise.then((addr) => ({
    url: `http://127.0.0.1:${addr.port}`,
    requests,
    close: () => server.shutdown(),
  }));
}

function rdapJson(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/rdap+json" },
  });
}

Deno.test("rdapBaseFor() picks the registry of an address from the bundled bootstrap", () => {
  assert.equal(rdapBaseFor("8.8.8.8"), ARIN);
  assert.equal(rdapBaseFor("193.0.6.139"), RIPE);
  assert.equal(rdapBaseFor("1.1.1.1"), APNIC);
  assert.equal(rdapBaseFor("200.160.2.3"), LACNIC);
  assert.equal(rdapBaseFor("196.216.2.1"), AFRINIC);
  assert.equal(rdapBaseFor("2001:4860:4860::8888"), ARIN);
  assert.equal(rdapBaseFor("2a00:1450:4001:82b::200e"), RIPE);
  assert.equal(rdapBaseFor("2001:67c:2e8::1"), RIPE);
  assert.equal(rdapBaseFor("2c0f:f248::1"), AFRINIC);
  assert.equal(rdapBaseFor("2001:1288::1"), LACNIC);
  assert.equal(
    rdapBaseFor("240.0.0.1"),
    ARIN,
    "unlisted addresses fall back to ARIN",
  );
});

Deno.test("rdapBaseFor() prefers the longest matching prefix", () => {
  const bootstrap: RdapBootstrap = {
    fallback: "https://fallback.test/",
    ipv4: {
      services: [
        [["203.0.0.0/8"], ["http://wide.test/", "https://wide.test/"]],
        [["203.0.113.0/24"], ["https://narrow.test/"]],
        [["203.0.112.0/20"], ["https://middle.test/"]],
      ],
    },
    ipv6: {
      services: [[["2001:db8::/32"], ["https://v6.test/"]], [[
        "2001:db8:1::/48",
      ], ["https://v6-narrow.test/"]]],
    },
  };
  assert.equal(rdapBaseFor("203.0.113.9", bootstrap), "https://narrow.test/");
  assert.equal(rdapBaseFor("203.0.114.9", bootstrap), "https://middle.test/");
  assert.equal(rdapBaseFor("203.1.0.1", bootstrap), "https://wide.test/");
  assert.equal(rdapBaseFor("204.0.0.1", bootstrap), "https://fallback.test/");
  assert.equal(
    rdapBaseFor("2001:db8:1:2::1", bootstrap),
    "https://v6-narrow.test/",
  );
  assert.equal(rdapBaseFor("2001:db8:2::1", bootstrap), "https://v6.test/");
  // A v4-mapped address is its IPv4 address (issue 16: it used to fall through to the fallback).
  assert.equal(
    rdapBaseFor("::ffff:203.0.113.9", bootstrap),
    "https://narrow.test/",
  );
});

Deno.test("whois run() reads network, contacts and dates from an RDAP server", async () => {
  const fake = await startRdapFake((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/rdap/ip/8.8.8.8") return rdapJson(ARIN_NETWORK);
    if (path === "/rdap/ip/2001:67c:2e8::1") return rdapJson(RIPE_NETWORK);
    return rdapJson({ errorCode: 404, title: "Not Found" }, 404);
  });
  try {
    const settings = { rdap_base_url: `${fake.url}/rdap`, allow_private: true };
    assert.deepEqual(await run("8.8.8.8", settings), {
      ip: "8.8.8.8",
      source: "127.0.0.1",
      handle: "NET-8-8-8-0-2",
      name: "GOGL",
      type: "DIRECT ALLOCATION",
      parent_handle: "NET-8-0-0-0-2",
      range: "8.8.8.0 - 8.8.8.255",
      cidr: ["8.8.8.0/24"],
      registrant: [{
        handle: "GOGL",
        name: "Google LLC",
        address:
          "1600 Amphitheatre Parkway, Mountain View, CA, 94043, United States",
        kind: "org",
      }],
      abuse: [{
        handle: "ABUSE5250-ARIN",
        address:
          "1600 Amphitheatre Parkway, Mountain View, CA, 94043, United States",
        name: "Abuse",
        kind: "group",
        email: "network-abuse@google.com",
        phone: "+1-650-253-0000",
      }],
      registered: "2023-12-28T17:24:33-05:00",
      last_changed: "2023-12-28T17:24:56-05:00",
    });
    assert.deepEqual(await run("2001:67c:2e8::1", settings), {
      ip: "2001:67c:2e8::1",
      source: "127.0.0.1",
      handle: "2001:67c:2e8::/48",
      name: "RIPE-NCC",
      type: "ASSIGNED PI",
      country: "NL",
      range: "2001:67c:2e8:: - 2001:67c:2e8:ffff:ffff:ffff:ffff:ffff",
      cidr: ["2001:67c:2e8::/48"],
      registrant: [{
        handle: "ORG-RIEN1-RIPE",
        name: "Reseaux IP Europeens Network Coordination Centre (RIPE NCC)",
        kind: "org",
      }],
      abuse: [{
        handle: "OPS4-RIPE",
        name: "RIPE NCC Operations",
        kind: "group",
        email: "abuse@ripe.net",
        phone: "+31205354444",
      }],
      registered: "2008-03-27T12:42:22Z",
      last_changed: "2022-07-05T09:11:37Z",
    });
    assert.deepEqual(fake.requests.map((r) => r.path), [
      "/rdap/ip/8.8.8.8",
      "/rdap/ip/2001:67c:2e8::1",
    ]);
    assert.match(fake.requests[0]!.accept, /^application\/rdap\+json/);
  } finally {
    await fake.close();
  }
});

Deno.test("whois run() reports a missing record and a server error", async () => {
  const fake = await startRdapFake((req) =>
    new URL(req.url).pathname === "/ip/9.9.9.9"
      ? rdapJson(
        { errorCode: 503, title: "Service temporarily unavailable" },
        503,
      )
      : rdapJson({ errorCode: 404, title: "Not Found" }, 404)
  );
  try {
    const settings = { rdap_base_url: fake.url, allow_private: true };
    await assert.rejects(run("8.8.4.4", settings), {
      message: "No RDAP record for 8.8.4.4 at 127.0.0.1 (HTTP 404)",
    });
    await assert.rejects(run("9.9.9.9", settings), {
      message:
        "RDAP lookup for 9.9.9.9 failed: HTTP 503 from 127.0.0.1: Service temporarily unavailable",
    });
  } finally {
    await fake.close();
  }
});

Deno.test("whois run() follows a registry redirect", async () => {
  const fake = await startRdapFake((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/arin/ip/8.8.8.8") {
      return new Response(null, {
        status: 302,
        headers: { location: "/ripe/ip/8.8.8.8" },
      });
    }
    if (path === "/ripe/ip/8.8.8.8") {
      return rdapJson({ ...RIPE_NETWORK, handle: "REDIRECTED" });
    }
    return rdapJson({ errorCode: 404 }, 404);
  });
  try {
    const result = await run(
      "8.8.8.8",
      { rdap_base_url: `${fake.url}/arin/`, allow_private: true },
    );
    assert.equal(result.handle, "REDIRECTED");
    assert.deepEqual(fake.requests.map((r) => r.path), [
      "/arin/ip/8.8.8.8",
      "/ripe/ip/8.8.8.8",
    ]);
  } finally {
    await fake.close();
  }
});

Deno.test("whois run() answers reserved addresses without a lookup and refuses a private RDAP server by default", async () => {
  const fake = await startRdapFake(() => rdapJson(ARIN_NETWORK));
  try {
    assert.deepEqual(
      await run("10.0.0.5", { rdap_base_url: fake.url, allow_private: true }),
      {
        ip: "10.0.0.5",
        reserved: true,
      },
    );
    await assert.rejects(run("8.8.8.8", { rdap_base_url: fake.url }), {
      name: "BlockedRequestError",
    });
    assert.equal(fake.requests.length, 0);
  } finally {
    await fake.close();
  }
});

Deno.test("whois run() aborts an in-flight lookup when the signal aborts", async () => {
  const arrived = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  const fake = await startRdapFake(async () => {
    arrived.resolve();
    await release.promise;
    return rdapJson(ARIN_NETWORK);
  });
  try {
    const controller = new AbortController();
    const reason = new Error("deadline passed");
    const pending = run(
      "8.8.8.8",
      { rdap_base_url: fake.url, allow_private: true },
      controller.signal,
    );
    await arrived.promise;
    controller.abort(reason);
    await assert.rejects(pending, (err) => err === reason);
  } finally {
    release.resolve();
    await fake.close();
  }
});

Deno.test("whois params accept only IP addresses", () => {
  assert.equal(plugin.params!.safeParse({ ip: "8.8.8.8; id" }).success, false);
  assert.equal(plugin.params!.safeParse({ ip: "example.com" }).success, false);
  assert.equal(plugin.params!.safeParse({ ip: "2001:db8::1" }).success, true);
});
