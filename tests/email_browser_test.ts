/**
 * Opens a rendered alert email in headless Chromium and checks it fits a 600 px column and a phone.
 * Skipped when /usr/bin/chromium is missing, unless BLITZ_REQUIRE_BROWSER=1.
 */
import assert from "node:assert/strict";
import { type EmailModel, renderAlertEmail } from "../emails/mod.ts";
import { browserTestIgnored, launchChromium } from "./_browser.ts";

const wideRows = Array.from({ length: 6 }, (_, i) => ({
  timestamp: `2025-03-04T05:0${i}:00.000Z`,
  source_address: `203.0.113.${10 + i}`,
  destination_address: `198.51.100.${20 + i}`,
  destination_port: 443 + i,
  user_agent:
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0",
  bytes_out: 123456789 * (i + 1),
  action: i % 2 ? "allowed" : "blocked",
  rule_name: "outbound-default-deny-with-an-unusually-long-rule-name",
  country: "NL",
  asn: "AS64496 Example Transit Networks B.V.",
}));

const example: EmailModel = {
  title:
    "Impossible travel: bob@example.com signed in from two countries within 5 minutes",
  subject: "Blitz: impossible travel for bob@example.com",
  detector: "azure_ad_impossible_travel",
  alertId: "0190f1e2-7a3b-7c4d-8e5f-6a7b8c9d0e1f",
  receivedAt: "2025-03-04T05:06:07.890Z",
  conditionNote: "Enrichment condition matched: country_change",
  enrichments: [
    {
      name: "whois",
      status: "ok",
      ms: 184,
      data: {
        network: "203.0.113.0/24",
        org: "Example Transit Networks B.V.",
        abuse_contact: "abuse@example.net",
        raw_token: "A".repeat(500),
        tags: ["hosting", "vpn-exit", "seen-before"],
        recent_connections: wideRows.map((row) => ({
          timestamp: row.timestamp,
          source_address: row.source_address,
          destination_address: row.destination_address,
          user_agent: row.user_agent,
          bytes_out: row.bytes_out,
          rule_name: row.rule_name,
        })),
      },
    },
    { name: "firewall_hits", status: "ok", ms: 942, data: wideRows },
    { name: "reverse_dns", status: "timeout", ms: 5003, timeoutMs: 5000 },
  ],
  sendResults: [{ name: "ticket", value: "SEC-4821" }],
  alertJson: {
    user: "bob@example.com",
    ip_src_addr: "203.0.113.10",
    previous_ip: "198.51.100.7",
    session: "x".repeat(300),
  },
  buttons: [
    {
      label: "Block source IP",
      color: "#c4353c",
      href: "https://blitz.example/a/AAECAwQFBgcICQoLDA0ODw",
    },
    {
      label: "Open Jira ticket",
      color: "#2563eb",
      href: "https://blitz.example/a/EBESExQVFhcYGRobHB0eHw",
    },
  ],
};

Deno.test({
  name: "renderAlertEmail() output fits 600 px and a phone screen in Chromium",
  ignore: browserTestIgnored(),
  async fn() {
    const browser = await launchChromium();
    const dir = await Deno.makeTempDir({ prefix: "blitz_email_" });
    try {
      const file = `${dir}/email.html`;
      await Deno.writeTextFile(file, renderAlertEmail(example).html);
      const page = await browser.newPage({
        viewport: { width: 600, height: 900 },
      });
      const requests: string[] = [];
      page.on("request", (request) => {
        if (!request.url().startsWith("file://")) requests.push(request.url());
      });
      await page.goto(`file://${file}`);

      for (const label of ["Block source IP", "Open Jira ticket"]) {
        const button = page.getByRole("link", { name: label });
        assert.equal(await button.isVisible(), true, `${label} is visible`);
        const box = await button.boundingBox();
        assert.ok(
          box && box.x >= 0 && box.x + box.width <= 600,
          `${label} is inside the column: ${JSON.stringify(box)}`,
        );
      }
      assert.equal(
        await page.getByText("reverse_dns — timed out after 5 s").isVisible(),
        true,
      );
      const width600 = await page.evaluate(() =>
        document.documentElement.scrollWidth
      );
      assert.ok(width600 <= 600, `scrollWidth at 600 px is ${width600}`);
      await page.screenshot({ path: `${dir}/email.png`, fullPage: true });

      await page.setViewportSize({ width: 375, height: 800 });
      const width375 = await page.evaluate(() =>
        document.documentElement.scrollWidth
      );
      assert.ok(width375 <= 375, `scrollWidth at 375 px is ${width375}`);
      for (const label of ["Block source IP", "Open Jira ticket"]) {
        assert.equal(
          await page.getByRole("link", { name: label }).isVisible(),
          true,
          `${label} is visible on a phone`,
        );
      }
      await page.screenshot({ path: `${dir}/email_phone.png`, fullPage: true });
      assert.deepEqual(requests, [], "the email loads nothing");
    } finally {
      await browser.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
