/**
 * The global `channels` and the detectors' `notify`: each channel validated by its type, a misspelt
 * type or channel name gets a did-you-mean naming the file and path, a condition block may choose its
 * own channels, and a Teams URL's `sig=` is redacted.
 */
import assert from "node:assert/strict";
import { loadConfig } from "./config.ts";
import { ConfigError } from "../errors.ts";
import { loadRegistry } from "../plugins/registry.ts";
import { redact } from "../secrets.ts";
import { writeProject } from "../../tests/_config.ts";

const SECRET = `whsec_${btoa("0123456789abcdef0123456789abcdef")}`;

async function load(
  channels: Record<string, unknown>,
  detector: Record<string, unknown> = {},
) {
  const project = await writeProject({
    global: { channels },
    detectors: { ids: { subject: "x", ...detector } },
  });
  try {
    return await loadConfig({
      path: project.config,
      env: (name) => project.env[name],
      registry: await loadRegistry(),
    });
  } finally {
    await project.cleanup();
  }
}

async function problems(promise: Promise<unknown>): Promise<string[]> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ConfigError) {
      return err.problems.map((p) =>
        p.replace(/^.*?\/(blitz\.yaml|detectors\/)/, "$1")
      );
    }
    throw err;
  }
  assert.fail("expected a config error");
}

Deno.test("loadConfig() validates channels by type and notify lists against them", async () => {
  const config = await load(
    {
      soc_slack: {
        type: "slack",
        token: "xoxb-1-2-3",
        channel: "#soc-alerts",
        signing_secret: "8f742231b10e8888abcd99yyyzzz85a5",
        allowed_users: ["U012ABC"],
      },
      ir_teams: {
        type: "teams",
        webhook_url:
          "https://example.test/workflows/1?api-version=1&sig=s3cr3tSIGvalue",
      },
      soar_hook: {
        type: "webhook",
        url: "https://soar.example/hooks/blitz",
        secret: SECRET,
      },
      oncall_pd: {
        type: "pagerduty",
        routing_key: "0123456789abcdef0123456789abcdef",
      },
    },
    {
      notify: ["email", "soc_slack"],
      enrichment_conditional: true,
      enrichments: {
        'alert.severity == "critical"': {
          enrichments: [],
          notify: ["oncall_pd"],
        },
        "true": [],
      },
    },
  );
  assert.deepEqual([...config.channels.keys()], [
    "soc_slack",
    "ir_teams",
    "soar_hook",
    "oncall_pd",
  ]);
  const ids = config.detectors.get("ids")!;
  assert.deepEqual(ids.config.notify, ["email", "soc_slack"]);
  assert.deepEqual(ids.blocks.map((b) => b.notify), [["oncall_pd"], undefined]);
  assert.equal(config.channels.get("oncall_pd")?.timeout, 10_000);
  assert.equal(
    redact("POST https://x.test/p?sig=s3cr3tSIGvalue failed"),
    "POST https://x.test/p?sig=[redacted] failed",
  );
  const defaults = await load({});
  assert.deepEqual(defaults.detectors.get("ids")!.config.notify, ["email"]);
});

Deno.test("loadConfig() names the file and path of a bad channel and suggests the fix", async () => {
  assert.deepEqual(
    await problems(
      load({ chat: { type: "slak", token: "xoxb-1", channel: "#a" } }),
    ),
    ['blitz.yaml: channels.chat.type: unknown channel type "slak"; did you mean "slack"? (known: slack, teams, webhook, pagerduty)'],
  );
  const bad = await problems(load({
    hook: { type: "webhook", url: "https://x.test/h", secret: "plain" },
    email: { type: "webhook", url: "https://x.test/h", secret: SECRET },
  }));
  assert.equal(bad.length, 2);
  assert.match(
    bad[0]!,
    /^blitz\.yaml: channels\.hook\.secret: must be "whsec_"/,
  );
  assert.match(
    bad[1]!,
    /channels\.email: "email" is the built-in email channel/,
  );
  assert.deepEqual(
    await problems(load(
      { soc_slack: { type: "slack", token: "xoxb-1", channel: "#a" } },
      { notify: ["email", "soc_slak"] },
    )),
    ['detectors/ids.yaml: ids.notify[1]: unknown channel "soc_slak"; did you mean "soc_slack"? (known: email, soc_slack)'],
  );
});
