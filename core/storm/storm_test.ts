import assert from "node:assert/strict";
import { loadConfig, type LoadedConfig } from "../config/config.ts";
import { ConfigError } from "../errors.ts";
import { loadRegistry } from "../plugins/registry.ts";
import { writeProject } from "../../tests/_config.ts";
import {
  fingerprintOf,
  MISSING,
  missingPaths,
  similarSuffix,
} from "./storm.ts";

async function problemsOf(
  storm: unknown,
  global: Record<string, unknown> = {},
): Promise<string[]> {
  const project = await writeProject({
    global,
    detectors: { ids: { subject: "x", storm } },
  });
  try {
    await loadConfig({
      path: project.config,
      env: (name) => project.env[name],
      registry: (g) => loadRegistry(g.plugin_dirs),
    }) as LoadedConfig;
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => p.replace(project.dir, "<dir>"));
  } finally {
    await project.cleanup();
  }
}

Deno.test("loadConfig() storm: bad input names the file, the path and the fix", async () => {
  assert.deepEqual(await problemsOf({ realert: "10m" }), [
    '<dir>/detectors/ids.yaml: ids.storm.fingerprint: required: the alert paths that make two alerts "the same", e.g. [alert.signature_id, src_ip]',
  ]);
  assert.deepEqual(
    await problemsOf({ fingerprint: ["src_ip"], realert: "10 minutes" }),
    [
      '<dir>/detectors/ids.yaml: ids.storm.realert: Invalid duration "10 minutes": use a number and one of ms, s, m, h, d',
    ],
  );
  assert.deepEqual(
    await problemsOf({
      fingerprint: ["src_ip"],
      realert: "1h",
      realert_max: "10m",
    }),
    [
      "<dir>/detectors/ids.yaml: ids.storm.realert_max: must not be shorter than realert (1 h): raise it, or drop it to keep every window at realert",
    ],
  );
  assert.deepEqual(
    await problemsOf({
      fingerprint: ["alert.signature_id", "src_ip"],
      group: { by: ["alert.signatur_id"] },
    }),
    [
      '<dir>/detectors/ids.yaml: ids.storm.group.by[0]: "alert.signatur_id" is not a fingerprint path: group.by must be taken from storm.fingerprint; did you mean "alert.signature_id"? (known: alert.signature_id, src_ip)',
    ],
  );
  assert.deepEqual(
    await problemsOf({ fingerprint: ["src ip"], realet: "1m" }),
    [
      `<dir>/detectors/ids.yaml: ids.storm.fingerprint[0]: must be a path from the alert's root such as "src_ip" or "alert.signature_id"`,
      '<dir>/detectors/ids.yaml: ids.storm: Unrecognized key: "realet"; did you mean "realert"?',
    ],
  );
  assert.deepEqual(
    await problemsOf({ fingerprint: ["src_ip"] }, { storm_breaker: "lots" }),
    [
      '<dir>/blitz.yaml: storm_breaker: invalid storm_breaker "lots": use "off" or emails per hour per detector, e.g. "200/h"',
    ],
  );
  assert.deepEqual(
    await problemsOf({ fingerprint: ["src_ip"], realert: "0s" }),
    [
      "<dir>/detectors/ids.yaml: ids.storm.realert: must be longer than 0 (e.g. 10m)",
    ],
  );
});

Deno.test("loadConfig() storm: defaults, and storm_breaker off or per hour", async () => {
  const project = await writeProject({
    global: { storm_breaker: "200/h" },
    detectors: { ids: { storm: { fingerprint: ["src_ip"] } } },
  });
  try {
    const config = await loadConfig({
      path: project.config,
      env: (name) => project.env[name],
    });
    assert.deepEqual(config.global.storm_breaker, {
      perHour: 200,
      text: "200/h",
    });
    assert.deepEqual(config.detectors.get("ids")?.config.storm, {
      fingerprint: ["src_ip"],
      realert: 600_000,
      digest: true,
      ack_quiet: 86_400_000,
    });
  } finally {
    await project.cleanup();
  }
});

Deno.test("fingerprintOf() reads paths as placeholders do; a missing path is (missing), distinct from that text", () => {
  const alert = { src_ip: "192.0.2.1", alert: { signature_id: 2001 } };
  const a = fingerprintOf("ids", ["alert.signature_id", "src_ip"], alert);
  assert.deepEqual(a.values, ["2001", "192.0.2.1"]);
  // The ids WebCrypto gave before the hash moved to plain JS: stored windows keep matching.
  assert.equal(a.id, "4391c5b603154cd47d94feec");
  assert.equal(a.definition, "b82111fb79e6");
  const missing = fingerprintOf(
    "ids",
    ["alert.signature_id", "x"],
    alert,
  );
  assert.deepEqual(missing.values, ["2001", MISSING]);
  const text = fingerprintOf("ids", ["alert.signature_id", "x"], {
    ...alert,
    x: MISSING,
  });
  assert.notEqual(missing.id, text.id);
  assert.equal(missing.definition, text.definition);
  const otherDetector = fingerprintOf(
    "waf",
    ["alert.signature_id", "src_ip"],
    alert,
  );
  assert.notEqual(a.id, otherDetector.id);
  const otherDefinition = fingerprintOf(
    "ids",
    ["src_ip", "alert.signature_id"],
    alert,
  );
  assert.notEqual(a.definition, otherDefinition.definition);
  assert.notEqual(a.id, otherDefinition.id);
  assert.deepEqual(missingPaths(["src_ip", "alert.sid", "x"], alert), [
    "alert.sid",
    "x",
  ]);
});

Deno.test("similarSuffix() says how many and since when, or nothing", () => {
  assert.equal(
    similarSuffix({ count: 37, at: "2026-03-02T10:02:31.000Z" }),
    " (+37 similar since 10:02)",
  );
  assert.equal(similarSuffix({ count: 0, at: "2026-03-02T10:02:31Z" }), "");
  assert.equal(similarSuffix(undefined), "");
});
