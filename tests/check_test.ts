/**
 * `blitz check` catches what would fail later, at delivery or at the click, through the CLI as a child
 * process with the check task's own permissions: every message names the file and the path and says
 * what to write instead.
 */
import assert from "node:assert/strict";
import { check, errors } from "./_check.ts";
import { ROOT, runTask, shown } from "./_task.ts";

Deno.test("check refuses recipients that are not addresses (the original mail_conf's PRIMARY_RECIPIENT) and accepts a quoted name with a comma", async () => {
  const run = await check({
    global: {
      to: ["PRIMARY_RECIPIENT"],
      from_email: '"Doe, Jane" <jane@example.test>',
    },
    detectors: {
      det: {
        subject: "S",
        mailers: {
          to: ["soc team@example.test"],
          cc: ["a@example.test, b@example.test"],
        },
      },
    },
  });
  const lines = errors(run);
  assert.deepEqual(lines, [
    'error: <dir>/blitz.yaml: to[0]: "PRIMARY_RECIPIENT": missing @, not an email address (expected "a@b.c" or "Name <a@b.c>")',
  ], "the global config fails first, on its own, and the quoted From is fine");
  const detector = errors(
    await check({
      detectors: {
        det: {
          subject: "S",
          mailers: {
            to: ["soc team@example.test"],
            cc: ["a@example.test, b@example.test"],
          },
        },
      },
    }),
  );
  assert.deepEqual(detector, [
    'error: <dir>/detectors/det.yaml: det.mailers.to[0]: "soc team@example.test": expected "a@b.c" or "Name <a@b.c>"',
    `error: <dir>/detectors/det.yaml: det.mailers.cc[0]: "a@example.test, b@example.test": must be a single address; a display name with a comma is quoted: '"Doe, Jane" <jane@example.org>'`,
  ]);
});

Deno.test("check: unknown keys get a did-you-mean, bare CEL fields suggest alert.<field>", async () => {
  const lines = errors(
    await check({
      detectors: {
        typo: { subjet: "S", mailers: { overide: true } },
        cel: {
          subject: "S",
          enrichment_conditional: true,
          enrichments: { "src_ip == '10.0.0.1'": [] },
        },
      },
    }),
  );
  assert.deepEqual(lines.sort(), [
    `error: <dir>/detectors/cel.yaml: cel.enrichments["src_ip == '10.0.0.1'"]: Invalid CEL condition: Unknown variable: src_ip; alert fields are read through alert: did you mean "alert.src_ip"?`,
    'error: <dir>/detectors/typo.yaml: typo.mailers: Unrecognized key: "overide"; did you mean "override"?',
    'error: <dir>/detectors/typo.yaml: typo: Unrecognized key: "subjet"; did you mean "subject"?',
  ]);
});

Deno.test("check shows a YAML error's line with a caret under the column", async () => {
  const run = await check({
    files: {
      "detectors/det.yaml":
        'det:\n  subject: "S"\n  mailers: {to: [soc@example.test}\n',
    },
  });
  assert.equal(run.code, 2, shown(run));
  const text = run.stderr.replaceAll(run.dir, "<dir>");
  assert.match(
    text,
    /^error: <dir>\/detectors\/det\.yaml: \(root\): invalid YAML at line 3, column (\d+): [^\n]*[^:\n]\n {4}mailers: \{to: \[soc@example\.test\}\n( +)\^\n/,
  );
  const [, col, pad] = /column (\d+)[^]*\n( +)\^/.exec(text)!;
  assert.equal(
    pad!.length - 2,
    Number(col) - 1,
    "the caret sits under the column",
  );
});

Deno.test("check runs each plugin's own check: query and database of get_data_from_db, URL schemes, Jira server and project", async () => {
  const lines = errors(
    await check({
      global: {
        databases: {
          assets: "mysql://u:${env:BLITZ_ACTION_KEY}@127.0.0.1/a",
          cmdb: "mysql://u:${env:BLITZ_ACTION_KEY}@127.0.0.1/b",
        },
      },
      detectors: {
        det: {
          subject: "S",
          enrichments: [
            { e_name: "Owner", e_func: "get_data_from_db", e_key: "src_ip" },
            {
              e_name: "Owner 2",
              e_func: "mysql",
              e_key: "src_ip",
              e_args: {
                query: "SELECT 1 FROM t WHERE ip = ?",
                database: "asets",
              },
            },
            {
              e_name: "API",
              e_func: "api_lookup",
              e_args: { url: "api.example.test/v1/{src_ip}" },
            },
          ],
          actions: {
            send: [["http_request", {
              method: "POST",
              url: "hooks.example.test/x",
            }]],
            reply: [["Ticket", {
              actions: [["jira_create", {
                data: {
                  conn_details: { server: "jira.example.test", token: "t" },
                  fields: { project: "SOC", summary: "x" },
                },
              }]],
            }]],
          },
        },
      },
    }),
  );
  const file = "error: <dir>/detectors/det.yaml: det.";
  assert.deepEqual(lines, [
    `${file}enrichments[0].e_args.query: required: the SQL to run, in config (the original get_data_from_db took it from code), with ? for alert values, e.g. "SELECT owner FROM assets WHERE ip = ?" and e_key: src_ip`,
    `${file}enrichments[0].e_args.database: required when the global config has several databases (configured in the global databases: assets, cmdb)`,
    `${file}enrichments[1].e_args.database: unknown database "asets"; did you mean "assets"? (configured in the global databases: assets, cmdb)`,
    `${file}enrichments[2].e_args.url: "api.example.test/v1/{src_ip}" has no scheme: write "https://api.example.test/v1/{src_ip}"`,
    `${file}actions.send[0].url: "hooks.example.test/x" has no scheme: write "https://hooks.example.test/x"`,
    `${file}actions.reply[0].actions[0].data.conn_details.server: "jira.example.test" has no scheme: write "https://jira.example.test"`,
    `${file}actions.reply[0].actions[0].data.fields.project: Jira wants an object here: write project: {key: "SOC"}`,
  ]);
});

Deno.test("check passes the same plugins when their config is right", async () => {
  const run = await check({
    global: {
      databases: { assets: "mysql://u:${env:BLITZ_ACTION_KEY}@127.0.0.1/a" },
    },
    detectors: {
      det: {
        subject: "S",
        enrichments: [{
          e_name: "Owner",
          e_func: "get_data_from_db",
          e_key: "src_ip",
          e_args: { query: "SELECT owner FROM assets WHERE ip = ?" },
        }],
        actions: {
          send: [["http_request", {
            method: "POST",
            url: "https://hooks.example.test/x?ip={src_ip}",
          }]],
          reply: [["Ticket", {
            actions: [["jira_create", {
              data: {
                conn_details: {
                  server: "https://jira.example.test",
                  token: "t",
                },
                fields: { project: { key: "SOC" }, summary: "x" },
              },
            }]],
          }]],
        },
      },
    },
  });
  assert.equal(run.code, 0, shown(run));
  assert.match(run.stdout, /^ok: /);
});

Deno.test("check passes on the repo's own config and its ported detectors/device_1.yaml", async () => {
  const run = await runTask("check", ["--config", "blitz.yaml"], {
    cwd: ROOT,
    env: {
      BLITZ_ACTION_KEY: "check-test-key-0123456789abcdef",
      JIRA_USER: "demo",
      JIRA_TOKEN: "demo",
    },
  });
  assert.equal(run.code, 0, shown(run));
  assert.match(run.stdout, /^ok: .*\bdevice_1\b/m);
  assert.doesNotMatch(run.stderr, /^error:/m);
});

Deno.test("check refuses signing keys that share an id or a secret, duplicate button labels and a detector defined twice", async () => {
  const secret = "${env:BLITZ_ACTION_KEY}";
  const keys = errors(
    await check({
      global: {
        action_keys: [
          { id: "k1", secret },
          { id: "k1", secret: "another-secret-0123456789" },
          { id: "k2", secret },
        ],
      },
    }),
  );
  assert.deepEqual(keys, [
    'error: <dir>/blitz.yaml: action_keys[1].id: "k1" is already the id of action_keys[0]: give each signing key its own id',
    "error: <dir>/blitz.yaml: action_keys[2].secret: the same secret as action_keys[0]: a rotated-in key needs a new secret",
  ]);
  const step = [["pass_to_mail", { data: "x" }]];
  const detectors = errors(
    await check({
      detectors: {
        det: {
          subject: "S",
          actions: {
            reply: [
              ["Block", { actions: step }],
              ["Ticket", { actions: step }],
              [
                "Block",
                { color: "red", actions: step },
              ],
            ],
          },
        },
      },
      files: { "detectors/more.yaml": "det:\n  subject: again\n" },
    }),
  );
  assert.deepEqual(detectors.sort(), [
    'error: <dir>/detectors/det.yaml: det.actions.reply[2]: same label as actions.reply[0] ("Block"): give each button its own label, or the analyst cannot tell them apart',
    "error: <dir>/detectors/more.yaml: det: detector already defined in <dir>/detectors/det.yaml",
  ]);
});

Deno.test("check: forward_mail recipients written in config are addresses; placeholders wait for the click", async () => {
  const lines = errors(
    await check({
      detectors: {
        det: {
          subject: "S",
          actions: {
            reply: [["Forward", {
              actions: [["forward_mail", {
                to: ["ir-team@example.test", "{owner_email}", "INCIDENT_TEAM"],
                cc: "a@example.test, b@example.test",
              }]],
            }]],
          },
        },
      },
    }),
  );
  assert.deepEqual(lines, [
    'error: <dir>/detectors/det.yaml: det.actions.reply[0].actions[0].to[2]: "INCIDENT_TEAM": missing @, not an email address (expected "a@b.c" or "Name <a@b.c>")',
    `error: <dir>/detectors/det.yaml: det.actions.reply[0].actions[0].cc: "a@example.test, b@example.test": must be a single address; a display name with a comma is quoted: '"Doe, Jane" <jane@example.org>'`,
  ]);
});
