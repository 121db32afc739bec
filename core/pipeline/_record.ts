/**
 * The details of recording an alert: the patch a composition and a delivery attempt make to its
 * record (retry or give up, as `core/delivery/retry.ts` decides), the record as the store leaves it, and
 * its summary line.
 *
 * @module
 */
import { retryOrFail } from "../delivery/retry.ts";
import type { AlertPatch, AlertRecord } from "../store/store.ts";
import type { Composition, DeliveryOutcome, Runtime } from "./_types.ts";

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
  /** Each channel's state after the CLI's one attempt (only when the detector notifies channels). */
  channels?: { channel: string; status: string; error?: string }[];
  /** Storm control: why the alert was stored and not mailed, and whose email covers it. */
  suppressed_by?: string;
  notified_id?: string;
}

/** The fields a composition adds to the record: the message and what went into it. */
export function composedPatch(composed: Composition): AlertPatch {
  const { message } = composed;
  return {
    subject: message.subject,
    to: message.to,
    cc: message.cc,
    condition: composed.condition,
    enrichments: composed.enrichments,
    actions: composed.actions,
    message,
    message_id: message.message_id,
    ...(composed.severity ? { severity: composed.severity } : {}),
    ...(composed.threadKey ? { thread_key: composed.threadKey } : {}),
  };
}

/**
 * The fields a delivery attempt sets: "delivered", or "retry" with a backoff until
 * `delivery.max_attempts` (or a permanent error), then "failed". {@link logAttempt} logs it once written.
 */
export function attemptPatch(
  runtime: Runtime,
  attempt: { outcome: DeliveryOutcome; attempts: number },
): AlertPatch {
  const { config } = runtime;
  const { outcome, attempts } = attempt;
  if (outcome.ok) {
    const delivery = {
      status: outcome.result.status,
      ...(outcome.result.path ? { path: outcome.result.path } : {}),
      ...(outcome.result.response ? { response: outcome.result.response } : {}),
    };
    return {
      status: "delivered",
      attempts,
      delivery,
      last_error: undefined,
      next_attempt_at: undefined,
    };
  }
  const decision = retryOrFail(config.global.delivery, {
    attempts,
    transient: outcome.transient,
    now: runtime.clock?.() ?? new Date(),
  });
  const patch: AlertPatch = decision.final
    ? {
      status: "failed",
      attempts,
      last_error: outcome.error,
      delivery: { status: "failed", error: outcome.error },
    }
    : {
      status: "retry",
      attempts,
      last_error: outcome.error,
      next_attempt_at: decision.nextAttemptAt,
      delivery: { status: "pending", error: outcome.error },
    };
  return patch;
}

/**
 * Logs an attempt's state change ("delivered", "delivery_retry", "failed") after its record is written,
 * so a log line never announces a state the store does not have yet.
 */
export function logAttempt(
  runtime: Runtime,
  record: AlertRecord,
  patch: AlertPatch,
  unfilled: string[] = [],
): void {
  const fields = {
    alert_id: record.id,
    detector: record.detector,
    attempts: patch.attempts,
    // Never silent: the placeholders this alert's email left as {key}.
    ...(unfilled.length ? { unfilled: unfilled.join("; ") } : {}),
  };
  if (patch.status === "delivered") {
    runtime.log("delivered", { ...fields, via: patch.delivery?.status });
  } else {
    runtime.log(patch.status === "failed" ? "failed" : "delivery_retry", {
      ...fields,
      error: patch.last_error,
    });
  }
}

/** The record after a patch, as the store applies it (an `undefined` field is cleared). */
export function applyPatch(
  record: AlertRecord,
  patch: AlertPatch,
): AlertRecord {
  const out: Record<string, unknown> = { ...record };
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) delete out[key];
    else out[key] = value;
  }
  return out as unknown as AlertRecord;
}

/** The summary line of a processed alert. */
export function summarize(record: AlertRecord): IngestSummary {
  const delivery: { status: string; path?: string; error?: string } =
    record.delivery ??
      { status: record.status === "suppressed" ? "suppressed" : "pending" };
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
    ...(record.suppressed_by ? { suppressed_by: record.suppressed_by } : {}),
    ...(record.notified_id ? { notified_id: record.notified_id } : {}),
  };
}
