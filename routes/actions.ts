/**
 * One-click action links (SECURITY.md items 1–8).
 *
 * `GET /actions/:token` (and HEAD) shows a confirmation page and changes nothing: mail scanners may fetch
 * it as often as they like. Only `POST /actions/:token` from that page's form acts: it verifies the token
 * (expiry first, then key id and MAC), the CSRF field bound to the token and the button, consumes the
 * token's nonce atomically in the store (single use: a replay or a second click gets the 409 page), runs
 * the button's steps in order with results chained, records the audit entry, saves Jira keys on the alert,
 * sends a follow-up email threaded under the alert's Message-ID, and shows the result.
 *
 * Tokens never reach a log line: every error is handled here, and what is logged names the alert, never
 * the link. Pages carry `Referrer-Policy: no-referrer` and a CSP that allows no scripts and no framing.
 *
 * This file holds the routes and request parsing; the steps live beside it: `_action_target.ts` (token →
 * alert, detector, button) and `_action_pages.ts` (confirmation page, run model). The CSRF field is
 * `core/auth/csrf.ts`; the run itself (steps, audit, Jira keys, follow-up email) is the pipeline's:
 * `core/pipeline/button.ts`.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { errorMessage } from "../core/plugins/call.ts";
import type { Runtime } from "../core/pipeline/pipeline.ts";
import { RateLimiter } from "./http/rate_limit.ts";
import {
  clientIp,
  rateKey,
  remoteAddress,
  trustedProxies,
} from "./http/client.ts";

/** The client address of a request, through the configured trusted_proxies. */
function clientOf(c: Context, deps: ActionRouteDeps): string | undefined {
  return clientIp(
    c,
    trustedProxies(deps.runtime.config.global.trusted_proxies),
  );
}
import {
  securityHeaders,
  setResponseHeaders,
} from "./http/security_headers.ts";
import { redact } from "../core/secrets.ts";
import { headerSafe } from "../core/headers.ts";
import {
  type ActorModel,
  renderAlreadyDonePage,
  renderMessagePage,
  renderResultPage,
} from "./pages/ActionPages.tsx";
import { csrfValid } from "../core/auth/csrf.ts";
import { confirmPage, runModel } from "./_action_pages.ts";
import {
  buttonLabel,
  findButtonRun,
  runButton,
} from "../core/pipeline/button.ts";
import { PageError, resolveTarget } from "./_action_target.ts";

/** What the action routes use of the app's dependencies (`AppDeps` satisfies it). */
export interface ActionRouteDeps {
  runtime: Runtime;
  /** Clock in epoch ms (token expiry, rate limits, audit times). @default Date.now */
  now?: () => number;
}

/** Largest form body accepted (the form has two short fields). */
const MAX_FORM_BYTES = 8 * 1024;
const MAX_NAME_CHARS = 100;

/** Builds the `/actions/:token` routes. */
export function actionRoutes(deps: ActionRouteDeps): Hono {
  const app = new Hono();
  const now = deps.now ?? Date.now;
  const limiter = new RateLimiter(
    deps.runtime.config.global.action_rate_limit,
    { now },
  );
  const log = deps.runtime.log;

  app.use("/actions/:token", async (c, next) => {
    const headers = securityHeaders({
      publicUrl: deps.runtime.config.global.public_url,
    });
    const client = clientOf(c, deps);
    const decision = limiter.take(rateKey(client), now());
    if (!decision.ok) {
      log("action_rate_limited", { client_ip: client ?? "unknown" });
      c.header("Retry-After", String(decision.retryAfterS));
      for (const [name, value] of Object.entries(headers)) {
        c.header(name, value);
      }
      return c.html(
        renderMessagePage({
          title: "Too many requests",
          message: "Too many requests from your address: try again shortly.",
        }),
        429,
      );
    }
    await next();
    setResponseHeaders(c, headers);
  });

  app.get("/actions/:token", (c) =>
    guarded(c, deps, async (token) => {
      const target = await resolveTarget(deps.runtime, token, now());
      const done = await findButtonRun(
        deps.runtime,
        target.record.id,
        target.claims.nonce,
      );
      if (done) {
        return c.html(renderAlreadyDonePage(runModel(target, done)), 409);
      }
      const actor = actorOf(c, deps);
      return c.html(await confirmPage(deps.runtime, target, actor), 200);
    }));

  app.post("/actions/:token", (c) =>
    guarded(c, deps, async (token) => {
      const target = await resolveTarget(deps.runtime, token, now());
      const form = await readForm(c);
      if (!(await csrfValid(form.get("csrf") ?? "", token, target.key))) {
        throw new PageError(
          403,
          "Refused",
          "This request did not come from the action's confirmation page. Open the link from the email again.",
          "csrf",
        );
      }
      const actor = actorOf(c, deps, form.get("actor") ?? "");
      if (actor.source === "claimed" && !actor.value) {
        // Nothing is consumed: the same link still works once the name is filled in.
        return c.html(
          await confirmPage(
            deps.runtime,
            target,
            actor,
            "Enter your name: it is recorded with the action.",
          ),
          400,
        );
      }
      const who = actor.source === "trusted_header" ? actor.name : actor.value!;
      const ip = clientOf(c, deps);
      const agent = c.req.header("user-agent");
      const { run, created } = await deps.runtime.store.consumeNonce({
        nonce: target.claims.nonce,
        alert_id: target.record.id,
        button: await buttonLabel(target),
        actor: who,
        actor_source: actor.source,
        ...(ip ? { client_ip: ip } : {}),
        ...(agent ? { user_agent: headerSafe(agent).slice(0, 300) } : {}),
        started_at: new Date(now()).toISOString(),
        status: "running",
        steps: [],
      });
      if (!created) {
        log("action_replay", {
          alert_id: target.record.id,
          button: run.button,
          first_actor: run.actor,
        });
        return c.html(renderAlreadyDonePage(runModel(target, run)), 409);
      }
      const outcome = await runButton(deps.runtime, target, { run, now });
      return c.html(
        renderResultPage(runModel(target, outcome.run, outcome.followUp)),
        200,
      );
    }));

  return app;
}

/** Runs a handler; turns PageError into its page and anything else into a 500 page, never logging the token. */
async function guarded(
  c: Context,
  deps: ActionRouteDeps,
  handler: (token: string) => Promise<Response>,
): Promise<Response> {
  const token = c.req.param("token") ?? "";
  try {
    return await handler(token);
  } catch (err) {
    if (err instanceof PageError) {
      deps.runtime.log("action_refused", {
        method: c.req.method,
        status: err.status,
        reason: err.reason,
      });
      return c.html(
        renderMessagePage({ title: err.title, message: err.message }),
        err.status,
      );
    }
    const message = token
      ? errorMessage(err).replaceAll(token, "[token]")
      : errorMessage(err);
    deps.runtime.log("action_error", {
      method: c.req.method,
      error: redact(message),
    });
    return c.html(
      renderMessagePage({
        title: "Something went wrong",
        message: "The action could not be handled.",
      }),
      500,
    );
  }
}

/** Who is acting: the trusted header's value only when configured, else the claimed name from the form. */
function actorOf(
  c: Context,
  deps: ActionRouteDeps,
  claimed?: string,
): ActorModel {
  const global = deps.runtime.config.global;
  const header = global.trusted_user_header;
  if (header) {
    // Believed only from a trusted proxy: anyone else could send the header themselves.
    const trusted = trustedProxies(global.trusted_proxies).trusts(
      remoteAddress(c),
    );
    const name = trusted
      ? headerSafe(c.req.header(header) ?? "").slice(0, 200)
      : "";
    if (!name) {
      throw new PageError(
        403,
        "Sign-in required",
        "Your sign-in did not reach Blitz: open the link through the sign-in proxy.",
        "no_trusted_user",
      );
    }
    return { source: "trusted_header", name };
  }
  const value = headerSafe(claimed ?? "").slice(0, MAX_NAME_CHARS);
  return value ? { source: "claimed", value } : { source: "claimed" };
}

/** Reads an urlencoded form of at most MAX_FORM_BYTES. */
async function readForm(c: Context): Promise<URLSearchParams> {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/x-www-form-urlencoded\b/i.test(type)) {
    throw new PageError(
      415,
      "Refused",
      "Submit the confirmation page's form.",
      "content_type",
    );
  }
  const length = Number(c.req.header("content-length") ?? "0");
  if (length > MAX_FORM_BYTES) {
    throw new PageError(413, "Refused", "The form is too large.", "too_large");
  }
  const body = c.req.raw.body;
  if (!body) return new URLSearchParams();
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > MAX_FORM_BYTES) {
      await reader.cancel().catch(() => {});
      throw new PageError(
        413,
        "Refused",
        "The form is too large.",
        "too_large",
      );
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return new URLSearchParams(new TextDecoder().decode(bytes));
}
