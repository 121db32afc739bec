/**
 * The pipeline: an alert becomes an enriched, actionable email and a record. Both doors (the CLI and
 * the HTTP service) call it; the service splits it into accept (`acceptAlerts`) and a worker step
 * (`processAlert`), the CLI runs both in one go (`ingestAlert`).
 *
 * @module
 */
import { colorOf, type LoadedConfig, type LoadedDetector } from "./config.ts";
import { runSteps } from "./actions.ts";
import {
  type EnrichmentCache,
  type Invoker,
  runEnrichments,
} from "./enrich.ts";
import { errorMessage } from "./call.ts";
import type { Delivery } from "./delivery.ts";
import { InputError } from "./errors.ts";
import type { Logger } from "./log.ts";
import type { PluginRegistry } from "./registry.ts";
import { redactDeep } from "./secrets.ts";
import type {
  ActionResult,
  AlertPatch,
  AlertRecord,
  EnrichmentResult,
  Store,
  StoredMessage,
} from "./store.ts";
import { fill } from "./template.ts";
import { headerSafe } from "./headers.ts";
import { signActionToken } from "./tokens.ts";
import { renderAlertEmail } from "../emails/render.ts";
import { uuidv7 } from "./ids.ts";
import type { SandboxInvoker } from "./sandbox.ts";
import type { LimitedInvoker } from "./limits.ts";

/** Everything the pipeline works with, built once per process. */
export interface Runtime {
  config: LoadedConfig;
  registry: PluginRegistry;
  store: Store;
  delivery: Delivery;
  cache: EnrichmentCache;
  log: Logger;
  /** Runs enrichments (and actions from plugin_dirs): the sandbox, wrapped by per-enrichment limits. */
  invoker?: Invoker;
  /** The plugin sandbox, closed by closeRuntime; its stats feed /metrics. */
  sandbox?: SandboxInvoker;
  /** Per-enrichment rate and quota counters for /metrics. */
  limits?: LimitedInvoker;
  /** @default () => new Date() */
  clock?: () => Date;
  /** Called once per finished enrichment (metrics). */
  onEnrichment?: (detector: string, result: EnrichmentResult) => void;
}

/** What composing an alert produced (no side effects yet beyond send actions). */
export interface Composition {
  condition: string | null;
  conditionMatched: boolean;
  sendMail: boolean;
  enrichments: EnrichmentResult[];
  actions: ActionResult[];
  message: StoredMessage;
}

/** The one JSON line `ingest` prints. */
export interface IngestSummary {
  alert_id: string;
  detector: string;
  sent: boolean;
  subject: string;
  to: string[];
  cc: string[];
  enrichments: { name: string; status: string; ms: number }[];
  actions: { name: string; status: string }[];
  delivery: {
    status: string;
    message_id: string;
    path?: string;
    error?: string;
  };
}

const MAX_DEPTH = 64;

/** Parses alert text: one JSON object, nesting at most `maxDepth`; InputError otherwise. */
export function parseAlert(
  text: string,
  maxDepth = MAX_DEPTH,
): Record<string, unknown> {
  if (text.trim() === "") {
    throw new InputError("Empty input: expected one JSON object on stdin");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InputError(`Invalid JSON: ${(err as Error).message}`);
  }
  return checkAlert(value, maxDepth);
}

/** Checks that a parsed value is a JSON object within the depth limit. */
export function checkAlert(
  value: unknown,
  maxDepth = MAX_DEPTH,
  where = "Alert",
): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    const kind = value === null
      ? "null"
      : Array.isArray(value)
      ? "an array"
      : typeof value;
    throw new InputError(`${where} must be a JSON object, not ${kind}`);
  }
  if (depth(value, maxDepth) > maxDepth) {
    throw new InputError(`${where} is nested deeper than ${maxDepth} levels`);
  }
  return value as Record<string, unknown>;
}

function depth(value: unknown, limit: number, level = 1): number {
  if (level > limit || value === null || typeof value !== "object") {
    return level;
  }
  let max = level;
  for (const v of Object.values(value)) {
    if (v !== null && typeof v === "object") {
      max = Math.max(max, depth(v, limit, level + 1));
    }
    if (max > limit) break;
  }
  return max;
}

/** The detector config, or InputError naming the known ones. */
export function detectorOf(config: LoadedConfig, name: string): LoadedDetector {
  const detector = config.detectors.get(name);
  if (!detector) {
    const known = [...config.detectors.keys()].sort().join(", ") || "none";
    throw new InputError(`Unknown detector "${name}" (known: ${known})`);
  }
  return detector;
}

/** Runs the detector's preprocess hook, if any, and re-checks the result. */
export async function preprocess(
  detector: LoadedDetector,
  alert: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  if (!detector.module?.preprocess) return alert;
  const out = await detector.module.preprocess(structuredClone(alert));
  return checkAlert(out, MAX_DEPTH, `Preprocessed alert of ${detector.name}`);
}

/** Plugin settings: `plugins.<name>` plus the global blocks a built-in needs. */
export function settingsFor(
  config: LoadedConfig,
  detector: LoadedDetector,
  plugin: string,
): Record<string, unknown> {
  const own = config.global.plugins[plugin] ?? {};
  if (plugin === "mysql") return { databases: config.global.databases, ...own };
  if (plugin === "elasticsearch") {
    return {
      custom_enrichment_data: detector.config.custom_enrichment_data,
      ...own,
    };
  }
  return own;
}

/** Global recipients plus the detector's `mailers` (or only those with `override`), deduplicated. */
export function recipients(
  config: LoadedConfig,
  detector: LoadedDetector,
): { to: string[]; cc: string[] } {
  const { mailers } = detector.config;
  const to = mailers.override
    ? mailers.to
    : [...config.global.to, ...mailers.to];
  const cc = mailers.override
    ? mailers.cc
    : [...config.global.cc, ...mailers.cc];
  const seen = new Set<string>();
  const unique = (list: string[]) =>
    list.map(headerSafe).filter((a) => {
      const key = a.toLowerCase();
      if (!a || seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  const uniqueTo = unique(to);
  return { to: uniqueTo, cc: unique(cc) };
}

/** `{public_url}/actions/<token>`: the one place action links are made (never from a Host header). */
export function actionLink(config: LoadedConfig, token: string): string {
  return `${config.global.public_url.replace(/\/+$/, "")}/actions/${token}`;
}

/** The Message-ID of an alert's email: `<alert_id@host of public_url>`. */
export function messageIdOf(config: LoadedConfig, alertId: string): string {
  return `<${alertId}@${new URL(config.global.public_url).hostname}>`;
}

function selectBlock(
  runtime: Runtime,
  detector: LoadedDetector,
  alert: Record<string, unknown>,
  alertId: string,
) {
  // With enrichment off there are no conditions to match: the alert is sent as it is.
  if (!detector.config.enrichment_conditional || !detector.config.enrichment) {
    return { block: detector.blocks[0], matched: true };
  }
  for (const block of detector.blocks) {
    try {
      if (block.condition?.matches(alert)) return { block, matched: true };
    } catch (err) {
      runtime.log("condition_error", {
        alert_id: alertId,
        detector: detector.name,
        condition: block.condition?.source,
        error: errorMessage(err),
      });
    }
  }
  return { block: undefined, matched: false };
}

/**
 * Runs enrichments (concurrently) and send actions (in order), then renders the email. With
 * `sideEffects: false` (the `render` command) send actions with side effects are skipped.
 */
export async function compose(
  runtime: Runtime,
  input: {
    detector: LoadedDetector;
    alert: Record<string, unknown>;
    alertId: string;
    receivedAt: string;
  },
  options: { sideEffects?: boolean } = {},
): Promise<Composition> {
  const { detector, alert, alertId, receivedAt } = input;
  const { config } = runtime;
  const { block, matched } = selectBlock(runtime, detector, alert, alertId);
  const sendMail = matched || detector.config.send_mail_no_condition_match;
  const settings = (plugin: string) => settingsFor(config, detector, plugin);
  const enrichments = redactDeep(
    await runEnrichments(block?.entries ?? [], {
      alert,
      alertId,
      detector: detector.name,
      registry: runtime.registry,
      cache: runtime.cache,
      settingsFor: settings,
      defaults: {
        timeoutMs: config.global.enrichment_timeout,
        ttlMs: config.global.enrichment_ttl,
      },
      ...(runtime.invoker ? { invoker: runtime.invoker } : {}),
      onResult: (r) => runtime.onEnrichment?.(detector.name, r),
    }),
  );
  runtime.log("enriched", {
    alert_id: alertId,
    detector: detector.name,
    enrichments: enrichments.map((e) => `${e.name}:${e.status}`).join(","),
  });
  const values: Record<string, unknown> = {};
  const actions = await runSteps(detector.config.actions.send, {
    alert,
    alertId,
    detector: detector.name,
    registry: runtime.registry,
    settingsFor: settings,
    values,
    sideEffects: options.sideEffects ?? true,
    ...(runtime.invoker ? { invoker: runtime.invoker } : {}),
  });
  const data = { ...alert, ...values };
  const subject = headerSafe(fill(detector.config.subject, data)) ||
    `Blitz alert from ${detector.name}`;
  const title = fill(
    detector.config.mail_title || detector.config.subject,
    data,
  );
  const { to, cc } = recipients(config, detector);
  const expiresAt = (runtime.clock?.() ?? new Date()).getTime() +
    config.global.action_link_ttl;
  const key = config.global.action_keys[0];
  const buttons = await Promise.all(
    detector.config.actions.reply.map(async (button, i) => ({
      label: button.name,
      color: colorOf(config.global, button.config.color),
      href: key
        ? actionLink(
          config,
          await signActionToken({
            alertId,
            button: i,
            buttonLabel: button.name,
            expiresAt,
          }, key),
        )
        : "",
    })),
  );
  const { html, text } = renderAlertEmail({
    title,
    subject,
    detector: detector.name,
    alertId,
    receivedAt,
    ...(matched
      ? {}
      : { conditionNote: "No enrichment condition matched this alert" }),
    enrichments: enrichments.map((e) => ({
      name: e.name,
      status: e.status,
      ms: e.ms,
      ...(e.data !== undefined ? { data: e.data } : {}),
      ...(e.error !== undefined ? { error: e.error } : {}),
    })),
    sendResults: actions.filter((a) => a.status === "ok").map((a) => ({
      name: a.return_name ?? a.name,
      value: a.value,
    })),
    ...(detector.config.include_json ? { alertJson: redactDeep(alert) } : {}),
    buttons,
  });
  return {
    condition: block?.condition?.source ?? null,
    conditionMatched: matched,
    sendMail,
    enrichments,
    actions,
    message: {
      from: headerSafe(config.global.from_email),
      to,
      cc,
      subject,
      html,
      text,
      message_id: messageIdOf(config, alertId),
      headers: {
        "X-Blitz-Alert-Id": alertId,
        "X-Blitz-Detector": detector.name,
      },
    },
  };
}

/** Delivers a stored message; returns the delivery outcome without throwing. */
export async function deliver(runtime: Runtime, message: StoredMessage) {
  try {
    const result = await runtime.delivery.send({
      from: message.from,
      to: message.to,
      cc: message.cc,
      subject: message.subject,
      html: message.html,
      text: message.text,
      messageId: message.message_id,
      ...(message.headers ? { headers: message.headers } : {}),
    });
    return { ok: true as const, result };
  } catch (err) {
    const transient = (err as { transient?: unknown }).transient !== false;
    return { ok: false as const, error: errorMessage(err), transient };
  }
}

/** Backoff before attempt `attempt + 1`: exponential from `delivery.backoff`, capped, with jitter. */
export function backoffMs(config: LoadedConfig, attempt: number): number {
  const { backoff, max_backoff } = config.global.delivery;
  const base = Math.min(max_backoff, backoff * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/**
 * Processes one recorded alert: composes it (once; retries reuse the stored message), delivers it,
 * and records the outcome. Delivery failures become "retry" until `delivery.max_attempts`, then "failed".
 */
export async function processAlert(
  runtime: Runtime,
  record: AlertRecord,
): Promise<AlertRecord> {
  const { config, store } = runtime;
  const now = () => runtime.clock?.() ?? new Date();
  const detector = detectorOf(config, record.detector);
  let composedPatch: AlertPatch = {};
  let message = record.message;
  if (!message) {
    let alert = record.alert;
    try {
      alert = await preprocess(detector, record.alert);
    } catch (err) {
      runtime.log("preprocess_failed", {
        alert_id: record.id,
        detector: record.detector,
        error: errorMessage(err),
      });
    }
    const composed = await compose(runtime, {
      detector,
      alert,
      alertId: record.id,
      receivedAt: record.received_at,
    });
    message = composed.message;
    composedPatch = {
      subject: message.subject,
      to: message.to,
      cc: message.cc,
      condition: composed.condition,
      enrichments: composed.enrichments,
      actions: composed.actions,
      message,
      message_id: message.message_id,
    };
    if (!composed.sendMail) {
      const patch: AlertPatch = {
        ...composedPatch,
        status: "not_sent",
        delivery: { status: "skipped" },
      };
      await store.updateAlert(record.id, patch);
      runtime.log("not_sent", {
        alert_id: record.id,
        detector: record.detector,
        reason: "no condition matched",
      });
      return applyPatch(record, patch);
    }
  }
  // One write per attempt: the composition and the delivery outcome are recorded together.
  const attempts = record.attempts + 1;
  const outcome = await deliver(runtime, message);
  let patch: AlertPatch;
  if (outcome.ok) {
    const delivery = {
      status: outcome.result.status,
      ...(outcome.result.path ? { path: outcome.result.path } : {}),
      ...(outcome.result.response ? { response: outcome.result.response } : {}),
    };
    patch = {
      ...composedPatch,
      status: "delivered",
      attempts,
      delivery,
      last_error: undefined,
      next_attempt_at: undefined,
    };
    runtime.log("delivered", {
      alert_id: record.id,
      detector: record.detector,
      via: outcome.result.status,
      attempts,
    });
  } else {
    const final = !outcome.transient ||
      attempts >= config.global.delivery.max_attempts;
    patch = final
      ? {
        ...composedPatch,
        status: "failed",
        attempts,
        last_error: outcome.error,
        delivery: { status: "failed", error: outcome.error },
      }
      : {
        ...composedPatch,
        status: "retry",
        attempts,
        last_error: outcome.error,
        next_attempt_at: new Date(now().getTime() + backoffMs(config, attempts))
          .toISOString(),
        delivery: { status: "pending", error: outcome.error },
      };
    runtime.log(final ? "failed" : "delivery_retry", {
      alert_id: record.id,
      detector: record.detector,
      attempts,
      error: outcome.error,
    });
  }
  await store.updateAlert(record.id, patch);
  return applyPatch(record, patch);
}

/** The record after a patch, as the store applies it (an `undefined` field is cleared). */
function applyPatch(record: AlertRecord, patch: AlertPatch): AlertRecord {
  const out: Record<string, unknown> = { ...record };
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) delete out[key];
    else out[key] = value;
  }
  return out as unknown as AlertRecord;
}

/** New alert id: UUIDv7 (time-ordered). */
export function newAlertId(): string {
  return uuidv7();
}

/**
 * The CLI path: records the alert, processes it once (no retry loop: a failed delivery stays recorded
 * as "retry" for `serve` to pick up) and returns the summary line.
 */
export async function ingestAlert(
  runtime: Runtime,
  detectorName: string,
  alert: Record<string, unknown>,
): Promise<IngestSummary> {
  detectorOf(runtime.config, detectorName);
  const id = newAlertId();
  const receivedAt = (runtime.clock?.() ?? new Date()).toISOString();
  await runtime.store.insertAlerts([{
    id,
    detector: detectorName,
    alert,
    received_at: receivedAt,
    status: "processing",
  }]);
  runtime.log("accepted", { alert_id: id, detector: detectorName });
  const record: AlertRecord = {
    id,
    detector: detectorName,
    alert,
    received_at: receivedAt,
    updated_at: receivedAt,
    status: "processing",
    attempts: 0,
  };
  return summarize(await processAlert(runtime, record));
}

/** The summary line of a processed alert. */
export function summarize(record: AlertRecord): IngestSummary {
  const delivery = record.delivery ?? { status: "pending" };
  return {
    alert_id: record.id,
    detector: record.detector,
    sent: record.status === "delivered",
    subject: record.subject ?? "",
    to: record.to ?? [],
    cc: record.cc ?? [],
    enrichments: (record.enrichments ?? []).map((e) => ({
      name: e.name,
      status: e.status,
      ms: e.ms,
    })),
    actions: (record.actions ?? []).map((a) => ({
      name: a.name,
      status: a.status,
    })),
    delivery: {
      status: delivery.status,
      message_id: record.message_id ?? "",
      ...(delivery.path ? { path: delivery.path } : {}),
      ...(delivery.error ? { error: delivery.error } : {}),
    },
  };
}
