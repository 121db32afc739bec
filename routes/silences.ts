/**
 * `GET /silences` (storm control, behind `ui_auth` like `/alerts`): active silences and acked
 * fingerprints with who, when and until when, and `POST /silences/<id>/end` and
 * `POST /silences/acks/<fingerprint>/end` from the page's buttons, each checked against a CSRF field
 * bound to the signed-in user (HMAC with the first action key), then a 303 back to the page.
 *
 * @module
 */
import type { Context, Hono } from "hono";
import { csrfFor, csrfValid } from "../core/auth/csrf.ts";
import type { Runtime } from "../core/pipeline/pipeline.ts";
import { renderMessagePage } from "./pages/ActionPages.tsx";
import { renderSilencePage, type SilenceRow } from "./pages/SilencePages.tsx";

/** Adds the silence routes to `app`, whose guard already signed the user in (`userOf`). */
export function addSilenceRoutes(
  app: Hono,
  deps: {
    runtime: Runtime;
    userOf: (c: Context) => string;
    base: () => string;
    now: () => number;
  },
): void {
  const { runtime } = deps;
  const csrfToken = (user: string) => `silences page v1\0${user}`;

  app.get("/silences", async (c) => {
    const user = deps.userOf(c);
    const key = runtime.config.global.action_keys[0];
    const now = new Date(deps.now());
    const base = `${deps.base()}/silences`;
    const active = await runtime.store.storm.listSilences({ now });
    const all = await runtime.store.storm.listSilences({ now, all: true });
    const windows = await runtime.store.storm.windows({ limit: 500 });
    const row = (s: (typeof all)[number], end: boolean): SilenceRow => ({
      what: s.match ??
        (s.fingerprint ? `fingerprint ${s.fingerprint}` : "every alert"),
      detector: s.detector,
      by: s.created_by,
      since: s.starts_at,
      until: s.expired_at ? `${s.ends_at} (ended early)` : s.ends_at,
      suppressed: s.suppressed,
      ...(s.comment ? { comment: s.comment } : {}),
      ...(end && key
        ? { endHref: `${base}/${encodeURIComponent(s.id)}/end` }
        : {}),
    });
    const acks = windows.filter((w) => w.acked_at).map((w): SilenceRow => ({
      what: `${w.paths.map((p, i) => `${p}=${w.values[i]}`).join(", ")}`,
      detector: w.detector,
      by: w.acked_by ?? "",
      since: w.acked_at!,
      until: "quiet for ack_quiet",
      ...(key
        ? { endHref: `${base}/acks/${encodeURIComponent(w.fingerprint)}/end` }
        : {}),
    }));
    return c.html(renderSilencePage({
      user,
      csrf: key ? await csrfFor(csrfToken(user), key) : "",
      active: active.map((s) => row(s, true)),
      acks,
      recent: all.filter((s) => !active.some((a) => a.id === s.id)).slice(0, 50)
        .map((s) => row(s, false)),
      listHref: `${deps.base()}/alerts`,
    }));
  });

  const ended = async (
    c: Context,
    end: () => Promise<boolean>,
    what: string,
  ) => {
    const user = deps.userOf(c);
    const key = runtime.config.global.action_keys[0];
    const form = await c.req.parseBody().catch(() => ({}));
    const csrf = typeof (form as Record<string, unknown>).csrf === "string"
      ? (form as Record<string, string>).csrf!
      : "";
    if (!key || !(await csrfValid(csrf, csrfToken(user), key))) {
      return c.html(
        renderMessagePage({
          title: "Refused",
          message: "Use the button on the silences page.",
        }),
        403,
      );
    }
    const done = await end();
    runtime.log("silence_ended", { what, by: user, changed: done });
    return c.redirect(`${deps.base()}/silences`, 303);
  };

  app.post("/silences/acks/:fingerprint/end", (c) =>
    ended(
      c,
      () => runtime.store.storm.unack(c.req.param("fingerprint")),
      `ack ${c.req.param("fingerprint")}`,
    ));
  app.post("/silences/:id/end", (c) =>
    ended(
      c,
      () =>
        runtime.store.storm.expireSilence(
          c.req.param("id"),
          new Date(deps.now()),
        ),
      `silence ${c.req.param("id")}`,
    ));
}
