/**
 * The confirmation page in a real browser (SECURITY.md item 2): headless Chromium with JavaScript on
 * loads it and sends no POST by itself; filling the name and clicking the button runs the action once.
 * Skipped when /usr/bin/chromium is missing, unless BLITZ_REQUIRE_BROWSER=1.
 */
import assert from "node:assert/strict";
import { createApp } from "../routes/app.ts";
import { Metrics } from "../core/service/metrics.ts";
import { ingestAlert } from "../core/pipeline/pipeline.ts";
import { Queue } from "../core/service/queue.ts";
import { closeRuntime, createRuntime } from "../core/service/runtime.ts";
import { browserTestIgnored, launchChromium } from "./_browser.ts";
import { writeProject } from "./_config.ts";
import { startDeferredServer, startReceiver } from "./_http.ts";

Deno.test({
  name:
    "actionRoutes() confirmation page sends nothing by itself in Chromium, and its button runs the action once",
  ignore: browserTestIgnored(),
  async fn() {
    const browser = await launchChromium();
    // The API the button's only step calls.
    const api = startReceiver(() => Response.json({ blocked: true }));
    const calls = () => api.requests.map((r) => `${r.method} ${r.path}`);
    // Every request the app receives, by method.
    const seen: string[] = [];
    const server = startDeferredServer();
    const base = server.url;
    const project = await writeProject({
      global: { public_url: base },
      detectors: {
        device_1: {
          subject: "Email Alert : {ip_src_addr}",
          enrichments: [],
          actions: {
            reply: [["Block IP", {
              color: "red",
              actions: [["http_request", {
                method: "POST",
                url: `${api.url}/block/{ip_src_addr}`,
                allow_private: true,
              }]],
            }]],
          },
        },
      },
    });
    const runtime = await createRuntime({
      configPath: project.config,
      env: (name) => project.env[name],
      log: () => {},
    });
    try {
      const app = createApp({
        runtime,
        queue: new Queue(runtime),
        metrics: new Metrics(),
      });
      server.handle((req, info) => {
        seen.push(`${req.method} ${new URL(req.url).pathname.split("/")[1]}`);
        return app.fetch(req, info);
      });
      const { alert_id: id } = await ingestAlert(runtime, "device_1", {
        ip_src_addr: "10.0.0.5",
      });
      // The email went to the outbox; its stored copy has the link.
      const html = (await runtime.store.getAlert(id))!.message!.html;
      const link = /href="([^"]+\/actions\/[^"]+)"/.exec(html)?.[1];
      assert.ok(link?.startsWith(`${base}/actions/`));

      const page = await browser.newPage({ javaScriptEnabled: true });
      const response = await page.goto(link!);
      assert.equal(response?.status(), 200);
      // Give a self-submitting page (script, meta refresh) time to misbehave.
      await page.waitForTimeout(1500);
      assert.deepEqual(seen.filter((s) => !s.startsWith("GET ")), []);
      assert.deepEqual(calls(), []);
      assert.deepEqual(await runtime.store.listActionRuns(id), []);

      await page.fill("#actor", "Bob Browser");
      await Promise.all([
        page.waitForURL(link!, { waitUntil: "load" }),
        page.click("button[type=submit]"),
      ]);
      const title = await page.textContent("h1");
      assert.equal(title, "Done: Block IP");
      assert.deepEqual(seen.filter((s) => s.startsWith("POST ")), [
        "POST actions",
      ]);
      assert.deepEqual(calls(), ["POST /block/10.0.0.5"]);
      const runs = await runtime.store.listActionRuns(id);
      assert.equal(runs.length, 1);
      assert.equal(runs[0]!.actor, "Bob Browser");
      assert.match(runs[0]!.user_agent ?? "", /Chrome/);
    } finally {
      await browser.close();
      await server.close();
      await api.close();
      await closeRuntime(runtime);
      await project.cleanup();
    }
  },
});
