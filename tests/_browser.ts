/**
 * Headless Chromium for browser tests (Debian's `chromium` package driven by playwright-core). A browser
 * test is skipped when the browser is missing, unless BLITZ_REQUIRE_BROWSER=1, which makes it fail instead.
 *
 * @example
 * ```ts
 * Deno.test({
 *   name: "renderAlertEmail() output fits a phone screen in Chromium",
 *   ignore: browserTestIgnored(),
 *   async fn() {
 *     const browser = await launchChromium();
 *     try {
 *       const page = await browser.newPage();
 *       // …
 *     } finally {
 *       await browser.close();
 *     }
 *   },
 * });
 * ```
 *
 * @module
 */
import assert from "node:assert/strict";
import { type Browser, chromium } from "playwright-core";

/** Where Debian's `chromium` package installs the browser. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/** Flags for a quiet headless run in a container: no sandbox, GPU, background traffic or first-run UI. */
export const CHROMIUM_ARGS: readonly string[] = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** Whether {@link CHROMIUM_PATH} is an existing file. */
export function hasChromium(): boolean {
  try {
    return Deno.statSync(CHROMIUM_PATH).isFile;
  } catch {
    return false;
  }
}

/** The `ignore` value for a browser test: true when Chromium is missing and BLITZ_REQUIRE_BROWSER is not "1". */
export function browserTestIgnored(): boolean {
  return !hasChromium() && Deno.env.get("BLITZ_REQUIRE_BROWSER") !== "1";
}

/** Launches headless Chromium with {@link CHROMIUM_ARGS}; fails with an install hint when it is missing. */
export async function launchChromium(): Promise<Browser> {
  if (!hasChromium()) {
    assert.fail(
      `Cannot launch Chromium: ${CHROMIUM_PATH} does not exist (apt-get install -y chromium, or unset BLITZ_REQUIRE_BROWSER to skip browser tests)`,
    );
  }
  return await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [...CHROMIUM_ARGS],
  });
}
