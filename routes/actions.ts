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
 * @module
 */
import { type Context, Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { runSteps } from "../core/actions.ts";
import { errorMessage } from "../core/call.ts";
import { colorOf, type LoadedDetector } from "../core/config.ts";
import type { ReplyButton } from "../core/config_schema.ts";
import type { OutgoingMessage } from "../core/delivery.ts";
import { uuidv7 } from "../core/ids.ts";
import {
  actionLink,
  messageIdOf,
  preprocess,
  recipients,
  type Runtime,
  settingsFor,
} from "../core/pipeline.ts";
import { RateLimiter } from "../core/rate_limit.ts";
import { buildUrl } from "../core/safe_fetch.ts";
import { redact, redactDeep } from "../core/secrets.ts";
import type { ActionResult, ActionRun, AlertRecord } from "../core/store.ts";
import { fillDeep } from "../core/template.ts";
import { headerSafe } from "../core/headers.ts";
import {
  type ActionKey,
  ActionTokenError,
  buttonTagMatches,
  type TokenClaims,
  verifyActionToken,
} from "../core/tokens.ts";
import { renderFollowUpEmail } from "../emails/render.ts";
import {
  type ActorModel,
  renderAlreadyDonePage,
  renderConfirmPage,
  renderMessagePage,
  renderResultPage,
  type RunModel,
  type StepPreview,
} from "../emails/pages/ActionPages.tsx";

/** What the action routes use of the app's dependencies (`AppDeps` satisfies it). */
export interface ActionRouteDeps {
  runtime: Runtime;
  /** Clock in epoch ms (token expiry, rate limits, audit times). @default Date.now */
  now?: () => number;
}

/** Headers of every page (action and alert pages): no referrer, no scripts, no framing, no caching. */
export function securityHeaders(publicUrl: string): Record<string, string> {
  return {
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy":
      `default-src 'none'; style-src 'unsafe-inline'; form-action ${
        new URL(publicUrl).origin
      }; frame-ancestors 'none'; base-uri 'none'`,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
  };
}

/** Largest form body accepted (the form has two short fields). */
const MAX_FORM_BYTES = 8 * 1024;
const MAX_NAME_CHARS = 100;
const CSRF_CONTEXT = new TextEncoder().encode("blitz action csrf v1\0");
/** Alert fields shown on the confirmation page, at most. */
const KEY_FIELDS = 12;
const SECRET_KEY =
  /pass(word)?|secret|token|api[_-]?key|authori[sz]ation|credential|cookie/i;

/** A page response that is not the happy path. */
class PageError extends Error {
  override name = "PageError";
  readonly status: ContentfulStatusCode;
  readonly title: string;
  /** Logged as `reason`; never contains the token. */
  readonly reason: string;
  constructor(
    status: ContentfulStatusCode,
    title: string,
    message: string,
    reason: string,
  ) {
    super(message);
    this.status = status;
    this.title = title;
    this.reason = reason;
  }
}

/** A verified token with everything it points at. */
interface Target {
  token: string;
  claims: TokenClaims;
  key: ActionKey;
  record: AlertRecord;
  detector: LoadedDetector;
  button: ReplyButton;
}

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
    const headers = securityHeaders(deps.runtime.config.global.public_url);
    const decision = limiter.take(clientIp(c) ?? "unknown", now());
    if (!decision.ok) {
      log("action_rate_limited", { client_ip: clientIp(c) ?? "unknown" });
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
    for (const [name, value] of Object.entries(headers)) {
      c.res.headers.set(name, value);
    }
  });

  app.get("/actions/:token", (c) =>
    guarded(c, deps, async (token) => {
      const target = await resolveTarget(deps, token, now());
      const done = await findRun(deps, target);
      if (done) {
        return c.html(renderAlreadyDonePage(runModel(target, done)), 409);
      }
      const actor = actorOf(c, deps);
      return c.html(await confirmPage(deps, target, actor), 200);
    }));

  app.post("/actions/:token", (c) =>
    guarded(c, deps, async (token) => {
      const target = await resolveTarget(deps, token, now());
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
            deps,
            target,
            actor,
            "Enter your name: it is recorded with the action.",
          ),
          400,
        );
      }
      const who = actor.source === "trusted_header" ? actor.name : actor.value!;
      const ip = clientIp(c);
      const agent = c.req.header("user-agent");
      const { run, created } = await deps.runtime.store.consumeNonce({
        nonce: target.claims.nonce,
        alert_id: target.record.id,
        button: target.button.name,
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
          button: target.button.name,
          first_actor: run.actor,
        });
        return c.html(renderAlreadyDonePage(runModel(target, run)), 409);
      }
      const finished = await execute(deps, target, run, now);
      return c.html(renderResultPage(finished), 200);
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

/** Verifies the token (expiry first) and finds its alert, detector and button; PageError otherwise. */
async function resolveTarget(
  deps: ActionRouteDeps,
  token: string,
  now: number,
): Promise<Target> {
  const { config, store } = deps.runtime;
  const keys = config.global.action_keys;
  let claims: TokenClaims;
  try {
    claims = await verifyActionToken(token, keys, { now });
  } catch (err) {
    if (!(err instanceof ActionTokenError)) throw err;
    if (err.code === "expired") {
      const when = err.claims
        ? ` on ${
          new Date(err.claims.expiresAt).toISOString().replace("T", " ").slice(
            0,
            19,
          )
        } UTC`
        : "";
      throw new PageError(
        410,
        "Link expired",
        `This action link expired${when}. Nothing was run. Use the alert page or ask for a new alert.`,
        "expired",
      );
    }
    throw new PageError(
      403,
      "Invalid link",
      "This action link is not valid. Nothing was run.",
      err.code,
    );
  }
  const key = keys.find((k) => k.id === claims.kid)!;
  const record = await store.getAlert(claims.alertId);
  if (!record) {
    throw new PageError(
      404,
      "Alert not found",
      "The alert of this link is no longer recorded.",
      "no_alert",
    );
  }
  const detector = config.detectors.get(record.detector);
  const button = detector?.config.actions.reply[claims.button];
  if (!detector || !button || !(await buttonTagMatches(claims, button.name))) {
    throw new PageError(
      403,
      "Invalid link",
      "This action link does not match the detector's current buttons. Nothing was run.",
      "button_mismatch",
    );
  }
  return { token, claims, key, record, detector, button };
}

/** The run recorded under the token's nonce, if it was used before. */
async function findRun(
  deps: ActionRouteDeps,
  target: Target,
): Promise<ActionRun | undefined> {
  const runs = await deps.runtime.store.listActionRuns(target.record.id);
  return runs.find((run) => run.nonce === target.claims.nonce);
}

/** Who is acting: the trusted header's value only when configured, else the claimed name from the form. */
function actorOf(
  c: Context,
  deps: ActionRouteDeps,
  claimed?: string,
): ActorModel {
  const header = deps.runtime.config.global.trusted_user_header;
  if (header) {
    const name = headerSafe(c.req.header(header) ?? "").slice(0, 200);
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

/** The remote address of the connection (Deno.serve passes it as the handler's info); undefined in app.request(). */
function clientIp(c: Context): string | undefined {
  const env = c.env as { remoteAddr?: { hostname?: unknown } } | undefined;
  const host = env?.remoteAddr?.hostname;
  return typeof host === "string" ? host : undefined;
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

// --- CSRF field: HMAC-SHA256 of the token under the key that signed it -----------------------------

const csrfKeys = new Map<string, Promise<CryptoKey>>();

function csrfKey(secret: string): Promise<CryptoKey> {
  let key = csrfKeys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      [
        "sign",
        "verify",
      ],
    );
    csrfKeys.set(secret, key);
  }
  return key;
}

function csrfInput(token: string): Uint8Array<ArrayBuffer> {
  const text = new TextEncoder().encode(token);
  const out = new Uint8Array(CSRF_CONTEXT.length + text.length);
  out.set(CSRF_CONTEXT);
  out.set(text, CSRF_CONTEXT.length);
  return out;
}

/** The CSRF field value for a token: base64url HMAC-SHA256 of the token with the signing key's secret. */
async function csrfFor(token: string, key: ActionKey): Promise<string> {
  const mac = new Uint8Array(
    await crypto.subtle.sign(
      "HMAC",
      await csrfKey(key.secret),
      csrfInput(token),
    ),
  );
  return btoa(String.fromCharCode(...mac)).replaceAll("+", "-").replaceAll(
    "/",
    "_",
  ).replace(/=+$/, "");
}

/** Checks a submitted CSRF field in constant time (crypto.subtle.verify). */
async function csrfValid(
  value: string,
  token: string,
  key: ActionKey,
): Promise<boolean> {
  // Canonical base64url of 32 bytes only: the last character carries 4 bits and 2 zero padding bits,
  // so a value that differs only in those padding bits is refused rather than decoded to the same MAC.
  if (!/^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/.test(value)) return false;
  const mac = Uint8Array.from(
    atob(value.replaceAll("-", "+").replaceAll("_", "/")),
    (ch) => ch.charCodeAt(0),
  );
  return await crypto.subtle.verify(
    "HMAC",
    await csrfKey(key.secret),
    mac,
    csrfInput(token),
  );
}

// --- Pages ---------------------------------------------------------------------------------------------

/** Hides values of keys that look like credentials, on top of the registered-secret redaction. */
function maskSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskSecrets);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map((
        [k, v],
      ) => [
        k,
        SECRET_KEY.test(k) && v !== null && typeof v !== "object"
          ? "[hidden]"
          : maskSecrets(v),
      ]),
    );
  }
  return value;
}

/** The alert after the detector's preprocess hook (what the email was made from). */
async function alertOf(
  target: Target,
): Promise<Record<string, unknown>> {
  try {
    return await preprocess(target.detector, target.record.alert);
  } catch {
    return target.record.alert;
  }
}

/** Values of the send actions (`pass_to_mail`) by return_name, as the email's placeholders saw them. */
function sendValues(record: AlertRecord): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const action of record.actions ?? []) {
    if (action.status === "ok" && action.return_name) {
      values[action.return_name] = action.value;
    }
  }
  return values;
}

async function confirmPage(
  deps: ActionRouteDeps,
  target: Target,
  actor: ActorModel,
  error?: string,
): Promise<string> {
  const { config } = deps.runtime;
  const alert = await alertOf(target);
  const data = { ...alert, ...sendValues(target.record) };
  const fields = Object.entries(alert)
    .filter(([, v]) => v === null || typeof v !== "object")
    .slice(0, KEY_FIELDS)
    .map((
      [k, v],
    ): [string, unknown] => [
      k,
      SECRET_KEY.test(k) ? "[hidden]" : redactDeep(v),
    ]);
  const steps: StepPreview[] = target.button.config.actions.map((step) => {
    const { enabled, return_name, ...rest } = step.config;
    let shown: Record<string, unknown> = rest;
    if (typeof rest.url === "string") {
      try {
        shown = { ...rest, url: buildUrl(rest.url, data).href };
      } catch {
        // A URL that cannot be built yet (it needs a later step's value) is shown with its placeholders.
      }
    }
    return {
      name: step.name,
      ...(return_name ? { returnName: return_name } : {}),
      enabled,
      config: maskSecrets(redactDeep(fillDeep(shown, data))),
    };
  });
  return renderConfirmPage({
    detector: target.detector.name,
    alertId: target.record.id,
    subject: target.record.subject ?? "",
    receivedAt: target.record.received_at,
    fields,
    button: target.button.name,
    color: colorOf(config.global, target.button.config.color),
    steps,
    formAction: actionLink(config, target.token),
    csrf: await csrfFor(target.token, target.key),
    actor,
    expiresAt: new Date(target.claims.expiresAt).toISOString(),
    ...(error ? { error } : {}),
  });
}

function runModel(target: Target, run: ActionRun, followUp?: string): RunModel {
  return {
    button: run.button,
    detector: target.detector.name,
    subject: target.record.subject ?? "",
    alertId: target.record.id,
    actor: run.actor,
    actorSource: run.actor_source,
    startedAt: run.started_at,
    ...(run.finished_at ? { finishedAt: run.finished_at } : {}),
    status: run.status,
    steps: run.steps,
    ...(followUp ? { followUp } : {}),
  };
}

// --- Running a button ------------------------------------------------------------------------------------

/** Runs the button's steps, records the outcome, saves Jira keys and sends the follow-up email. */
async function execute(
  deps: ActionRouteDeps,
  target: Target,
  run: ActionRun,
  now: () => number,
): Promise<RunModel> {
  const { runtime } = deps;
  let steps: ActionResult[];
  try {
    steps = await runButton(deps, target);
  } catch (err) {
    steps = [{
      name: "blitz",
      status: "error",
      error: redact(errorMessage(err)),
    }];
  }
  const status =
    steps.some((s) => s.status === "error" || s.status === "timeout")
      ? "error"
      : "ok";
  const finished = {
    ...run,
    steps,
    status,
    finished_at: new Date(now()).toISOString(),
  } satisfies ActionRun;
  await runtime.store.finishActionRun(run.nonce, {
    steps,
    status,
    finished_at: finished.finished_at,
  });
  await saveJiraKeys(deps, target, steps);
  const followUp = await sendFollowUp(deps, target, finished);
  runtime.log("action_run", {
    alert_id: target.record.id,
    detector: target.detector.name,
    button: target.button.name,
    actor: run.actor,
    actor_source: run.actor_source,
    client_ip: run.client_ip,
    status,
    steps: steps.map((s) => `${s.name}:${s.status}`).join(","),
  });
  return runModel(target, finished, followUp);
}

/** Runs the button's steps in order, results chained by return_name; stops at the first failure. */
async function runButton(
  deps: ActionRouteDeps,
  target: Target,
): Promise<ActionResult[]> {
  const { runtime } = deps;
  const message = target.record.message;
  const settings = (plugin: string): Record<string, unknown> => {
    const own = settingsFor(runtime.config, target.detector, plugin);
    if (plugin !== "forward_mail" || !message) return own;
    return {
      ...own,
      message,
      send: (m: OutgoingMessage) => runtime.delivery.send(m),
    };
  };
  return await runSteps(target.button.config.actions, {
    alert: await alertOf(target),
    alertId: target.record.id,
    detector: target.detector.name,
    registry: runtime.registry,
    settingsFor: settings,
    values: sendValues(target.record),
    stopOnError: true,
    ...(runtime.invoker ? { invoker: runtime.invoker } : {}),
  });
}

/** Adds the issue keys returned by jira_create steps to the alert record. */
async function saveJiraKeys(
  deps: ActionRouteDeps,
  target: Target,
  steps: ActionResult[],
): Promise<void> {
  const { registry, store } = deps.runtime;
  const keys = steps.filter((s) => {
    if (s.status !== "ok" || typeof s.value !== "string") return false;
    try {
      return registry.action(s.name).name === "jira_create";
    } catch {
      return false;
    }
  }).map((s) => s.value as string);
  if (keys.length === 0) return;
  const current = await store.getAlert(target.record.id);
  const merged = [...new Set([...(current?.jira_keys ?? []), ...keys])];
  await store.updateAlert(target.record.id, { jira_keys: merged });
}

/** Sends "who ran what" to the alert's recipients, threaded under its Message-ID; returns what happened. */
async function sendFollowUp(
  deps: ActionRouteDeps,
  target: Target,
  run: ActionRun,
): Promise<string> {
  const { runtime } = deps;
  const { config } = runtime;
  const { record, detector, button } = target;
  const fallback = recipients(config, detector);
  const to = record.to ?? fallback.to;
  const cc = record.cc ?? fallback.cc;
  if (to.length + cc.length === 0) {
    return "not sent: the alert has no recipients";
  }
  const parent = record.message_id ?? messageIdOf(config, record.id);
  const actor = run.actor_source === "claimed"
    ? `${run.actor} (claimed)`
    : run.actor;
  const { html, text } = renderFollowUpEmail({
    title: `${button.name}: ${run.status === "ok" ? "done" : "failed"}`,
    actor,
    button: button.name,
    at: run.started_at,
    steps: run.steps.map((s) => ({
      name: s.return_name ? `${s.name} → ${s.return_name}` : s.name,
      status: s.status,
      ...(s.value !== undefined ? { value: s.value } : {}),
      ...(s.error !== undefined ? { error: s.error } : {}),
    })),
  });
  const subject = headerSafe(record.subject ?? detector.name);
  try {
    await runtime.delivery.send({
      from: record.message?.from ?? headerSafe(config.global.from_email),
      to,
      cc,
      subject: /^re:/i.test(subject) ? subject : `Re: ${subject}`,
      html,
      text,
      messageId: `<${uuidv7()}@${new URL(config.global.public_url).hostname}>`,
      inReplyTo: parent,
      references: [parent],
      headers: {
        "X-Blitz-Alert-Id": record.id,
        "X-Blitz-Detector": detector.name,
      },
    });
    return `sent to ${to.length + cc.length} recipient${
      to.length + cc.length === 1 ? "" : "s"
    }`;
  } catch (err) {
    runtime.log("action_followup_failed", {
      alert_id: record.id,
      error: redact(errorMessage(err)),
    });
    return "not sent: delivery failed";
  }
}
