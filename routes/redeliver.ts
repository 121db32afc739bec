/**
 * `POST /alerts/<id>/redeliver` (behind `ui_auth` like `/alerts`): the alert page's "Redeliver" button,
 * shown while a delivery of the alert is failed. Checked against a CSRF field bound to the signed-in
 * user and the alert (HMAC with the first action key), then `Store.redeliver` re-queues the failed
 * email and channel deliveries once (a double click or two analysts at once: once), recorded with the
 * user as actor; the workers are woken and the answer is a 303 back to the alert's page.
 *
 * @module
 */
import type { Context, Hono } from "hono";
import { csrfFor, csrfValid } from "../core/auth/csrf.ts";
import type { Runtime } from "../core/pipeline/pipeline.ts";
import { renderMessagePage } from "./pages/ActionPages.tsx";

/** What the button's form carries: where it posts and its CSRF field. */
export interface RedeliverForm {
  href: string;
  csrf: string;
}

const csrfToken = (user: string, id: string) =>
  `alert redeliver v1\0${user}\0${id}`;

/** The form for alert `id` and `user`; undefined when no action key signs forms. */
export async function redeliverForm(
  runtime: Runtime,
  options: { user: string; id: string; base: string },
): Promise<RedeliverForm | undefined> {
  const key = runtime.config.global.action_keys[0];
  if (!key) return undefined;
  return {
    href: `${options.base}/alerts/${encodeURIComponent(options.id)}/redeliver`,
    csrf: await csrfFor(csrfToken(options.user, options.id), key),
  };
}

/** Adds the redeliver route to `app`, whose guard already signed the user in (`userOf`). */
export function addRedeliverRoutes(
  app: Hono,
  deps: {
    runtime: Runtime;
    userOf: (c: Context) => string;
    base: () => string;
    /** Wakes idle workers (serve's queue). */
    wake?: () => void;
  },
): void {
  const { runtime } = deps;
  app.post("/alerts/:id/redeliver", async (c) => {
    const id = c.req.param("id");
    const user = deps.userOf(c);
    const key = runtime.config.global.action_keys[0];
    const form = await c.req.parseBody().catch(() => ({}));
    const csrf = (form as Record<string, unknown>).csrf;
    if (
      !key || typeof csrf !== "string" ||
      !(await csrfValid(csrf, csrfToken(user, id), key))
    ) {
      return c.html(
        renderMessagePage({
          title: "Refused",
          message: "Use the Redeliver button on the alert's page.",
        }),
        403,
      );
    }
    const { redelivered, skipped } = await runtime.store.redeliver({
      ids: [id],
      actor: user,
      source: "ui",
    });
    const done = redelivered[0];
    if (done) {
      if (done.email) deps.wake?.();
      if (done.channels.length > 0) runtime.onChannelWork?.();
    }
    runtime.log("redelivered", {
      alert_id: id,
      by: user,
      source: "ui",
      ...(done
        ? {
          email: done.email,
          channels: done.channels.map((d) => d.channel),
          previous_attempts: done.previous_attempts,
        }
        : { changed: false, reason: skipped[0]?.reason }),
    });
    if (!done && skipped[0]?.reason === "no such alert") {
      return c.html(
        renderMessagePage({
          title: "Alert not found",
          message: "No alert has this id.",
        }),
        404,
      );
    }
    return c.redirect(`${deps.base()}/alerts/${encodeURIComponent(id)}`, 303);
  });
}
