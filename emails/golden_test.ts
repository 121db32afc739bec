/**
 * Golden files: the alert and follow-up emails of fixed models, HTML and text, byte for byte. A change
 * to the emails shows here as a diff of `emails/testdata/*.golden.*`; when it is meant, write them anew
 * with `deno test -A emails/golden_test.ts -- --update` and read the diff before committing.
 */
import assert from "node:assert/strict";
import {
  type EmailModel,
  type FollowUpModel,
  renderAlertEmail,
  renderFollowUpEmail,
} from "./mod.ts";

const UPDATE = Deno.args.includes("--update");
const DIR = new URL("./testdata/", import.meta.url);

/** The example detector's alert (device_1) as the pipeline composes it, with fixed ids and links. */
const DEVICE_1: EmailModel = {
  title: "Possible SQL injection on /login",
  subject: "Email Alert : 203.0.113.7 : login-api",
  detector: "device_1",
  alertId: "0190f1e2-7a3b-7c4d-8e5f-6a7b8c9d0e1f",
  alertUrl: "http://127.0.0.1:8080/alerts/0190f1e2-7a3b-7c4d-8e5f-6a7b8c9d0e1f",
  receivedAt: "2025-03-04T05:06:07.890Z",
  severity: "high",
  keyFields: [["Source IP", "203.0.113.7"], ["Service", "login-api"]],
  condition: 'alert.param2 == "login-api"',
  notRun: ["Asset owner"],
  enrichments: [
    {
      name: "Reverse DNS",
      status: "ok",
      ms: 12,
      data: { ptr: ["scanner.example.net"] },
    },
    {
      name: "WHOIS",
      status: "ok",
      ms: 140,
      data: {
        network: { name: "EXAMPLE-NET", cidr: "203.0.113.0/24" },
        contacts: [{ role: "abuse", email: "abuse@example.net" }, {
          role: "tech",
          email: "noc@example.net",
        }],
        asn: 64500,
        active: true,
        note: null,
      },
    },
    {
      name: "Threat intel API",
      status: "error",
      ms: 2001,
      error: "timed out after 2 s",
    },
    { name: "Disabled lookup", status: "skipped", ms: 0 },
  ],
  sendResults: [
    { name: "ip_src_addr", value: "203.0.113.7" },
    { name: "parameter 2", value: "login-api" },
  ],
  alertJson: {
    ip_src_addr: "203.0.113.7",
    param2: "login-api",
    param3: "Possible SQL injection on /login",
    nested: { list: [1, 2, 3], flag: false },
  },
  buttons: [
    {
      label: "Create JIRA",
      color: "#d9822b",
      href: "http://127.0.0.1:8080/a/v1.k1.TOKEN-1",
      description: "Runs jira_create",
    },
    {
      label: "Block 203.0.113.7 on firewall",
      color: "#c23030",
      href: "http://127.0.0.1:8080/a/v1.k1.TOKEN-2",
      description: "Blocks the source IP at the perimeter for 24 hours",
    },
  ],
};

const NO_MATCH: EmailModel = {
  title: "Port scan",
  subject: "Blitz alert from scanner",
  detector: "scanner",
  alertId: "0190f1e2-7a3b-7c4d-8e5f-000000000002",
  receivedAt: "2025-03-04T05:06:08.000Z",
  conditionNote: "No enrichment condition matched this alert",
  enrichments: [],
  sendResults: [],
  buttons: [],
};

const FOLLOW_UP: FollowUpModel = {
  title: "Possible SQL injection on /login",
  actor: "alice@soc.example.org",
  button: "Create JIRA",
  at: "2025-03-04T05:10:00.000Z",
  steps: [
    { name: "jira_id", status: "ok", value: "SOC-12" },
    {
      name: "forward_mail",
      status: "error",
      error: "SMTP refused the recipient",
    },
  ],
};

async function golden(name: string, actual: string): Promise<void> {
  const file = new URL(name, DIR);
  if (UPDATE) {
    await Deno.mkdir(DIR, { recursive: true });
    await Deno.writeTextFile(file, actual);
    return;
  }
  assert.equal(actual, await Deno.readTextFile(file), `${name} changed`);
}

Deno.test("renderAlertEmail() output equals its golden files (device_1 and a no-match alert)", async () => {
  for (
    const [name, model] of [["device_1", DEVICE_1], [
      "no_match",
      NO_MATCH,
    ]] as const
  ) {
    const { html, text } = renderAlertEmail(model);
    await golden(`${name}.golden.html`, html);
    await golden(`${name}.golden.txt`, text);
  }
});

Deno.test("renderFollowUpEmail() output equals its golden files", async () => {
  const { html, text } = renderFollowUpEmail(FOLLOW_UP);
  await golden("follow_up.golden.html", html);
  await golden("follow_up.golden.txt", text);
});
