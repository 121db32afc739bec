/**
 * The alert pages' layout in headless Chromium: `/alerts` with a stored storm (200 alerts of one
 * fingerprint, long unbroken values), a storm's alerts, one of them, and `/silences`, at 800 px and
 * at a phone's 390 px: the page never scrolls sideways, and the storm's grouped row with its count
 * is visible.
 * Skipped when /usr/bin/chromium is missing, unless BLITZ_REQUIRE_BROWSER=1.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { addSilence } from "../core/storm/storm.ts";
import { Queue } from "../core/service/queue.ts";
import { createApp } from "../routes/app.ts";
import { browserTestIgnored, launchChromium } from "./_browser.ts";
import { stormHarness, suricata } from "./_storm.ts";

const WIDTHS = [800, 390];

/** Fails unless the page is no wider than the viewport. */
async function assertNoSideScroll(page: Page, what: string): Promise<void> {
  const { scroll, inner } = await page.evaluate(() => ({
    scroll: document.scrollingElement!.scrollWidth,
    inner: globalThis.innerWidth,
  }));
  assert.ok(
    scroll <= inner,
    `${what}: the page is ${scroll} px wide in a ${inner} px viewport`,
  );
}

Deno.test({
  name:
    "/alerts in Chromium at 800 px and 390 px: no sideways scroll, the storm's grouped row and count visible",
  ignore: browserTestIgnored(),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using h = await stormHarness({
      ids: {
        subject: "IDS {alert.signature} from {src_ip} on {hostname}",
        enrichments: [],
        severity: { field: "level", default: "high" },
        storm: {
          fingerprint: ["alert.signature_id", "src_ip", "hostname"],
          realert: "10m",
        },
      },
      web: { subject: "WAF {host} {token}", enrichments: [] },
    }, {
      ui_auth: { users: [{ username: "ana", password: "analyst-pass-1" }] },
    });
    const host = `build-agent-${"x".repeat(60)}.ci.internal.example.org`;
    for (let i = 0; i < 200; i++) {
      await h.ingest(suricata(2001, "203.0.113.7", { hostname: host, n: i }));
      h.advance(1000);
    }
    await h.ingest({ host, token: "A".repeat(140) }, "web");
    const fp =
      (await h.runtime.store.listAlerts({ detector: "ids", limit: 1 }))[0]!
        .fingerprint!;
    await h.runtime.store.storm.ack(fp, { actor: "bob", at: h.now() });
    await addSilence({
      store: h.runtime.store,
      clock: () => h.now(),
      detectors: ["ids", "web"],
    }, {
      detector: "web",
      match: `alert.host == "${host}"`,
      forMs: 3_600_000,
      createdBy: "carol@soc.example.org",
      comment: `maintenance of ${host}`,
    });
    const app = createApp({
      runtime: h.runtime,
      queue: new Queue(h.runtime),
      metrics: h.metrics,
      now: () => h.now().getTime(),
    });
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (req, info) => app.fetch(req, info),
    );
    const base = `http://127.0.0.1:${server.addr.port}`;
    const browser = await launchChromium();
    try {
      for (const width of WIDTHS) {
        const context = await browser.newContext({
          viewport: { width, height: 900 },
          httpCredentials: { username: "ana", password: "analyst-pass-1" },
        });
        const page = await context.newPage();
        const list = await page.goto(`${base}/alerts`);
        assert.equal(list?.status(), 200);
        await assertNoSideScroll(page, `/alerts at ${width} px`);
        const count = page.locator(`a.count[href*="fingerprint=${fp}"]`);
        assert.equal(await count.count(), 1, "one row for the storm");
        assert.equal(await count.textContent(), "200");
        assert.ok(await count.isVisible(), `the count is visible at ${width}`);
        const box = (await count.boundingBox())!;
        assert.ok(
          box.x >= 0 && box.x + box.width <= width,
          `${JSON.stringify(box)}`,
        );
        const row = page.locator("tr", { has: count });
        assert.ok(await row.getByText("acked").isVisible());
        assert.equal(
          await page.locator("tr.head").first().isVisible(),
          width === 800,
          "the header row shows at 800 px; on a phone the rows are labelled cards",
        );

        const storm = await page.goto(`${base}/alerts?fingerprint=${fp}`);
        assert.equal(storm?.status(), 200);
        await assertNoSideScroll(page, `a storm's alerts at ${width} px`);
        assert.equal(await page.locator("tr:not(.head)").count(), 50);

        const held = page.locator('tr:not(.head) a[href*="/alerts/"]').first();
        const detail = await page.goto(
          (await held.getAttribute("href"))!.replace(
            /^https?:\/\/[^/]+/,
            base,
          ),
        );
        assert.equal(detail?.status(), 200);
        await assertNoSideScroll(page, `a held alert's page at ${width} px`);

        const silences = await page.goto(`${base}/silences`);
        assert.equal(silences?.status(), 200);
        await assertNoSideScroll(page, `/silences at ${width} px`);
        assert.ok(
          await page.getByText("carol@soc.example.org").first().isVisible(),
        );
        await context.close();
      }
    } finally {
      await browser.close();
      await server.shutdown();
    }
  },
});
