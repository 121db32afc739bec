/**
 * The bundled RDAP bootstrap is IANA's (issue 16, low): the same services and publication dates as the
 * files the npm package `rdap` ships, the entries once written from memory now right, and a v4-mapped
 * address looked up in the IPv4 registry.
 */
import assert from "node:assert/strict";
import { getBootstrapMetadata } from "rdap";
import bundled from "./rdap_bootstrap.json" with { type: "json" };
import { rdapBaseFor } from "./_rdap_bootstrap.ts";

Deno.test("rdap_bootstrap.json holds IANA's IPv4 and IPv6 files as the rdap package ships them", async () => {
  for (const type of ["ipv4", "ipv6"] as const) {
    const iana = await getBootstrapMetadata(type, false);
    assert.equal(
      bundled[type].publication,
      iana.publication,
      `${type} publication`,
    );
    assert.deepEqual(bundled[type].services, iana.services, `${type} services`);
  }
  assert.equal(bundled.ipv4.publication, "2019-06-07T19:00:02Z");
  assert.equal(bundled.ipv6.publication, "2024-11-01T22:00:01Z");
});

Deno.test("rdapBaseFor() picks the right registry where the old table was wrong, and maps ::ffff: to IPv4", () => {
  assert.equal(rdapBaseFor("2410::1"), "https://rdap.apnic.net/");
  // 2001:4c00::/23 is RIPE's: 2001:4e00:: lies outside it.
  assert.equal(rdapBaseFor("2001:4c00::1"), "https://rdap.db.ripe.net/");
  assert.equal(rdapBaseFor("2001:4dff::1"), "https://rdap.db.ripe.net/");
  // 2630::/12 (not /16) is ARIN's.
  assert.equal(rdapBaseFor("2631::1"), "https://rdap.arin.net/registry/");
  assert.equal(rdapBaseFor("1.1.1.1"), "https://rdap.apnic.net/");
  assert.equal(rdapBaseFor("::ffff:1.1.1.1"), "https://rdap.apnic.net/");
  assert.equal(rdapBaseFor("::ffff:193.0.6.139"), "https://rdap.db.ripe.net/");
});
