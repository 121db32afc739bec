/**
 * `GET /silences` (storm control, behind `ui_auth` like `/alerts`): active silences and acked
 * fingerprints with who, when, until when (an ack: until the fingerprint is quiet for the detector's
 * `ack_quiet`, at the earliest its last alert plus that), what they held and the comment, each
 * linking the storm's alerts; `POST /silences` from the page's form makes a silence (detector or `*`,
 * an optional CEL `match`, `for` (required, at most 30d), a comment; by the signed-in user), a bad
 * field being a 400 page naming it; and `POST /silences/<id>/end` and
 * `POST /silences/acks/<fingerprint>/end` from the page's buttons. Each POST is checked against a
 * CSRF field bound to the signed-in user (HMAC with the first action key), then a 303 back to the
 * page.
 *
 * @module
 */
import type { Context, Hono } from "hono";
import { csrfFor, csrfValid } from "../core/auth/csrf.ts";
import type { Runtime } from "../core/pipeline/pipeline.ts";
import { renderMessagePage } from "./pages/ActionPages.tsx";
import { renderSilencePage, type SilenceRow } from "./pages/SilencePages.tsx";
import { formatDuration, parseDuration } from "../core/duration.ts";
import { InputError } from "../core/errors.ts";
import { addSilence } from "../core/storm/storm.ts";
import { formatTime } from "../emails/AlertEmail.tsx";
import type { Silence, StormWindow } from "../core/store/store.ts";
import { ackQuietOf } from "./_alert_list.ts";

/** `alert.signature_id=2001, src_ip=203.0.113.7`. */
function keyFields(w: StormWindow): string {
  return w.paths.map((p, i) => `${p}=${w.values[i] ?? ""}`).join(", ");
}

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
    const alerts = `${deps.base()}/alerts`;
    const storm = runtime.store.storm;
    const active = await storm.listSilences({ now });
    const all = await storm.listSilences({ now, all: true });
    const recent = all.filter((s) => !active.some((a) => a.id === s.id))
      .slice(0, 50);
    // A fingerprint silence is shown by its key fields, as the alert list shows the storm.
    const windows = new Map<string, StormWindow>();
    for (const s of [...active, ...recent]) {
      if (s.fingerprint && !windows.has(s.fingerprint)) {
        const w = await storm.window(s.fingerprint);
        if (w) windows.set(s.fingerprint, w);
      }
    }
    const row = (s: Silence, end: boolean): SilenceRow => {
      const w = s.fingerprint ? windows.get(s.fingerprint) : undefined;
      return {
        what: s.match ??
          (w
            ? keyFields(w)
            : s.fingerprint
            ? `fingerprint ${s.fingerprint}`
            : "every alert"),
        ...(s.fingerprint
          ? {
            href: `${alerts}?fingerprint=${encodeURIComponent(s.fingerprint)}`,
          }
          : {}),
        detector: s.detector,
        by: s.created_by,
        since: formatTime(s.starts_at),
        until: s.expired_at
          ? `${formatTime(s.expired_at)} (ended early; was until ${
            formatTime(s.ends_at)
          })`
          : formatTime(s.ends_at),
        held: String(s.suppressed),
        ...(s.suppressed > 0
          ? { heldHref: `${alerts}?silence=${encodeURIComponent(s.id)}` }
          : {}),
        ...(s.comment ? { comment: s.comment } : {}),
        ...(end && key
          ? { endHref: `${base}/${encodeURIComponent(s.id)}/end` }
          : {}),
      };
    };
    const acks = (await runtime.store.listAcks({ limit: 200 })).map(
      (w): SilenceRow => {
        const quietMs = ackQuietOf(runtime, w.detector);
        const ends = Date.parse(w.last_seen_at) + quietMs;
        const on = ends > now.getTime();
        return {
          what: keyFields(w),
          href: `${alerts}?fingerprint=${encodeURIComponent(w.fingerprint)}`,
          detector: w.detector,
          by: w.acked_by ?? "",
          since: formatTime(w.acked_at!),
          until: on
            ? `quiet for ${formatDuration(quietMs)} (at the earliest ${
              formatTime(new Date(ends).toISOString())
            })`
            : `${formatTime(new Date(ends).toISOString())} (quiet for ${
              formatDuration(quietMs)
            })`,
          held: `${w.since_count} since the last email`,
          ...(on && key
            ? {
              endHref: `${base}/acks/${encodeURIComponent(w.fingerprint)}/end`,
            }
            : {}),
        };
      },
    );
    return c.html(renderSilencePage({
      user,
      csrf: key ? await csrfFor(csrfToken(user), key) : "",
      ...(key
        ? {
          create: {
            action: base,
            detectors: ["*", ...[...runtime.config.detectors.keys()].sort()],
          },
        }
        : {}),
      active: active.map((s) => row(s, true)),
      acks,
      recent: recent.map((s) => row(s, false)),
      listHref: alerts,
    }));
  });

  /** The form's text fields, when its CSRF field is the signed-in user's; undefined: refused. */
  const checkedForm = async (
    c: Context,
  ): Promise<Record<string, string> | undefined> => {
    const key = runtime.config.global.action_keys[0];
    const body = await c.req.parseBody().catch(() => ({}));
    const form: Record<string, string> = {};
    for (const [name, value] of Object.entries(body)) {
      if (typeof value === "string") form[name] = value;
    }
    if (
      !key ||
      !(await csrfValid(form.csrf ?? "", csrfToken(deps.userOf(c)), key))
    ) return undefined;
    return form;
  };
  const refused = (c: Context) =>
    c.html(
      renderMessagePage({
        title: "Refused",
        message: "Use the form on the silences page.",
      }),
      403,
    );

  app.post("/silences", async (c) => {
    const form = await checkedForm(c);
    if (!form) return refused(c);
    const user = deps.userOf(c);
    try {
      const forText = form.for?.trim() ?? "";
      let forMs: number | undefined;
      if (forText) {
        try {
          forMs = parseDuration(forText);
        } catch (err) {
          throw new InputError(`for: ${(err as Error).message}`);
        }
      }
      const silence = await addSilence({
        store: runtime.store,
        clock: () => new Date(deps.now()),
        detectors: runtime.config.detectors.keys(),
      }, {
        detector: form.detector?.trim() ?? "",
        match: form.match,
        forMs,
        createdBy: user,
        comment: form.comment,
      });
      runtime.log("silence_added", {
        id: silence.id,
        detector: silence.detector,
        by: user,
        ends_at: silence.ends_at,
      });
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      return c.html(
        renderMessagePage({ title: "Cannot silence", message: err.message }),
        400,
      );
    }
    return c.redirect(`${deps.base()}/silences`, 303);
  });

  const ended = async (
    c: Context,
    end: () => Promise<boolean>,
    what: string,
  ) => {
    if (!(await checkedForm(c))) return refused(c);
    const done = await end();
    runtime.log("silence_ended", { what, by: deps.userOf(c), changed: done });
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
