/**
 * Alert pages for analysts: `GET /alerts` (one row per storm fingerprint, searched and filtered:
 * `_alert_list.ts`) and `GET /alerts/:id` (data, enrichments, the email sent, the action audit
 * trail, Jira keys), and `/silences` (`silences.ts`).
 *
 * Protected by `ui_auth` (`_ui_auth.ts`): the trusted header (set by an SSO proxy) when configured,
 * else HTTP basic credentials from config, compared in constant time. Without `ui_auth` the pages are off. Failed sign-ins
 * are rate-limited per client address.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import type { LoadedDetector } from "../core/config/config.ts";
import type { Runtime } from "../core/pipeline/pipeline.ts";
import { RateLimiter } from "./http/rate_limit.ts";
import type { PluginRegistry } from "../core/plugins/registry.ts";
import { redactDeep } from "../core/secrets.ts";
import { type JiraLink, renderAlertDetailPage } from "./pages/AlertPages.tsx";
import { alertList } from "./_alert_list.ts";
import { renderMessagePage } from "./pages/ActionPages.tsx";
import { addSilenceRoutes } from "./silences.ts";
import { addRedeliverRoutes, redeliverForm } from "./redeliver.ts";
import { clientIp, rateKey, trustedProxies } from "./http/client.ts";
import { authenticate } from "./_ui_auth.ts";
import {
  securityHeaders,
  setResponseHeaders,
} from "./http/security_headers.ts";

/** What the alert routes use of the app's dependencies (`AppDeps` satisfies it). */
export interface AlertRouteDeps {
  runtime: Runtime;
  /** Clock in epoch ms (rate limit of failed sign-ins). @default Date.now */
  now?: () => number;
  /** Serve's queue: the Redeliver button wakes its idle workers. */
  queue?: { notify(count?: number): void };
}

/** Where the issues of a detector's jira_create steps live: `conn_details.server` of the first one. */
function jiraServer(
  detector: LoadedDetector | undefined,
  registry: PluginRegistry,
): string | undefined {
  for (const button of detector?.config.actions.reply ?? []) {
    for (const step of button.config.actions) {
      let name: string;
      try {
        name = registry.action(step.name).name;
      } catch {
        continue;
      }
      const data = step.config.data as
        | { conn_details?: { server?: unknown } }
        | undefined;
      const server = data?.conn_details?.server;
      if (
        name === "jira_create" && typeof server === "string" &&
        !server.includes("{")
      ) return server.replace(/\/+$/, "");
    }
  }
  return undefined;
}

/** The email text with its one-click links replaced: the page shows what was sent, not live links. */
function withoutActionLinks(text: string, base: string): string {
  const escaped = base.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return text.replace(
    new RegExp(`${escaped}/actions/[A-Za-z0-9_-]+`, "g"),
    "[action link]",
  );
}

/** Builds the `/alerts` routes. */
export function alertRoutes(deps: AlertRouteDeps): Hono {
  const app = new Hono();
  /** The signed-in user of each request, set by the guard. */
  const users = new WeakMap<Request, string>();
  const { runtime } = deps;
  const now = deps.now ?? Date.now;
  const failures = new RateLimiter(runtime.config.global.action_rate_limit, {
    now,
  });
  const base = () => runtime.config.global.public_url.replace(/\/+$/, "");

  app.use("/alerts", guard);
  app.use("/alerts/*", guard);
  app.use("/silences", guard);
  app.use("/silences/*", guard);
  addSilenceRoutes(app, {
    runtime,
    userOf: (c) => users.get(c.req.raw) ?? "",
    base,
    now,
  });
  addRedeliverRoutes(app, {
    runtime,
    userOf: (c) => users.get(c.req.raw) ?? "",
    base,
    wake: () => deps.queue?.notify(),
  });

  async function guard(c: Context, next: () => Promise<void>) {
    const headers = securityHeaders({
      publicUrl: runtime.config.global.public_url,
    });
    const auth = await authenticate(c, runtime);
    if ("user" in auth) {
      users.set(c.req.raw, auth.user);
      await next();
      setResponseHeaders(c, headers);
      return;
    }
    let response: Response;
    const proxies = trustedProxies(runtime.config.global.trusted_proxies);
    if (!failures.take(rateKey(clientIp(c, proxies)), now()).ok) {
      response = c.html(
        renderMessagePage({
          title: "Too many requests",
          message: "Too many failed sign-ins: try again shortly.",
        }),
        429,
      );
    } else if (auth.refused === "off") {
      response = c.html(
        renderMessagePage({
          title: "Alert pages are off",
          message: "Configure ui_auth to use them.",
        }),
        403,
      );
    } else {
      runtime.log("ui_auth_refused", {
        client_ip: clientIp(c, proxies) ?? "unknown",
        reason: auth.refused,
      });
      response = c.html(
        renderMessagePage({
          title: "Sign in",
          message: "Alert pages need a sign-in.",
        }),
        401,
      );
      if (runtime.config.global.ui_auth?.users.length) {
        response.headers.set(
          "WWW-Authenticate",
          'Basic realm="Blitz", charset="UTF-8"',
        );
      }
    }
    for (const [name, value] of Object.entries(headers)) {
      response.headers.set(name, value);
    }
    return response;
  }

  app.get("/alerts", (c) =>
    alertList(c, {
      runtime,
      user: users.get(c.req.raw) ?? "",
      base: base(),
      now: now(),
    }));

  app.get("/alerts/:id", async (c) => {
    const record = await runtime.store.getAlert(c.req.param("id"));
    if (!record) {
      return c.html(
        renderMessagePage({
          title: "Alert not found",
          message: "No alert has this id.",
        }),
        404,
      );
    }
    const runs = await runtime.store.listActionRuns(record.id);
    const deliveries = await runtime.store.listDeliveries(record.id);
    const redeliveries = await runtime.store.listRedeliveries(record.id);
    // The button only while a delivery is failed (a redelivered one is "retry"/"pending" again).
    const redeliver = record.status === "failed" || deliveries.some((d) =>
        d.status === "failed"
      )
      ? await redeliverForm(runtime, {
        user: users.get(c.req.raw) ?? "",
        id: record.id,
        base: base(),
      })
      : undefined;
    const server = jiraServer(
      runtime.config.detectors.get(record.detector),
      runtime.registry,
    );
    const jira: JiraLink[] = (record.jira_keys ?? []).map((key) => ({
      key,
      ...(server
        ? { href: `${server}/browse/${encodeURIComponent(key)}` }
        : {}),
    }));
    return c.html(renderAlertDetailPage({
      user: users.get(c.req.raw) ?? "",
      listHref: `${base()}/alerts`,
      id: record.id,
      detector: record.detector,
      status: record.status,
      ...(record.severity ? { severity: record.severity } : {}),
      ...(record.fingerprint || record.suppressed_by
        ? {
          storm: {
            ...(record.fingerprint
              ? {
                fingerprint: record.fingerprint,
                fingerprintHref: `${base()}/alerts?fingerprint=${
                  encodeURIComponent(record.fingerprint)
                }`,
              }
              : {}),
            ...(record.suppressed_by
              ? { suppressedBy: record.suppressed_by }
              : {}),
            ...(record.notified_id
              ? {
                notifiedId: record.notified_id,
                notifiedHref: `${base()}/alerts/${
                  encodeURIComponent(record.notified_id)
                }`,
              }
              : {}),
            ...(record.silence_id ? { silenceId: record.silence_id } : {}),
          },
        }
        : {}),
      receivedAt: record.received_at,
      updatedAt: record.updated_at,
      ...(record.subject !== undefined ? { subject: record.subject } : {}),
      to: record.to ?? [],
      cc: record.cc ?? [],
      ...(record.message_id !== undefined
        ? { messageId: record.message_id }
        : {}),
      ...(record.delivery ? { delivery: record.delivery } : {}),
      attempts: record.attempts,
      ...(record.last_error !== undefined
        ? { lastError: record.last_error }
        : {}),
      ...(record.condition !== undefined
        ? { condition: record.condition }
        : {}),
      alert: redactDeep(record.alert),
      enrichments: record.enrichments ?? [],
      sendActions: record.actions ?? [],
      ...(record.message
        ? { emailText: withoutActionLinks(record.message.text, base()) }
        : {}),
      runs: runs.map((run) => ({
        button: run.button,
        actor: run.actor,
        actorSource: run.actor_source,
        ...(run.client_ip ? { clientIp: run.client_ip } : {}),
        ...(run.user_agent ? { userAgent: run.user_agent } : {}),
        startedAt: run.started_at,
        ...(run.finished_at ? { finishedAt: run.finished_at } : {}),
        status: run.status,
        steps: run.steps,
      })),
      jira,
      ...(redeliver ? { redeliver } : {}),
      redeliveries: redeliveries.map((r) => ({
        at: r.at,
        actor: r.actor,
        source: r.source,
        what: [
          ...(r.email ? ["email"] : []),
          ...r.channels.map((d) => d.channel),
        ].join(", "),
      })),
      channels: deliveries.map((d) => ({
        channel: d.channel,
        type: d.type,
        event: d.event,
        status: d.status,
        attempts: d.attempts,
        updatedAt: d.updated_at,
        ...(d.status === "pending" ? { nextAttemptAt: d.next_attempt_at } : {}),
        ...(d.delivered_at ? { deliveredAt: d.delivered_at } : {}),
        ...(d.last_error ? { lastError: d.last_error } : {}),
      })),
    }));
  });

  return app;
}
