/**
 * The row shape both stores share: the alert fields `updateAlert` may patch, and the mapping from a
 * row (`alerts`, `action_runs`, `storm_windows`, `storm_timers`, `silences`, `storm_breaker`,
 * `storm_groups`, `channel_deliveries`, `redeliveries`: columns of the same names in SQLite and
 * PostgreSQL, JSON held as text, parsed losslessly) to a record. Timestamps are `Date#toISOString()`
 * strings, which sort as text.
 *
 * @module
 */
import { parseJson, stringifyJson } from "../json.ts";
import { uuidv7 } from "../ids.ts";
import { toIso } from "./alert_query.ts";
export { toIso };
import type {
  ActionRun,
  AlertPatch,
  AlertRecord,
  AlertStatus,
  BreakerState,
  ChannelDelivery,
  ChannelDeliveryStatus,
  Redelivery,
  Silence,
  StormGroup,
  StormTimer,
  StormWindow,
  SuppressedBy,
} from "./store.ts";

/** A JSON column as stored (big integers kept exactly: core/json.ts). */
// deno-lint-ignore no-explicit-any
function fromJson(text: unknown): any {
  return parseJson(text as string);
}

/** Fields `updateAlert` accepts, in the fixed order that keeps its statement cache small. */
export const PATCH_FIELDS: readonly string[] = [
  "status",
  "updated_at",
  "attempts",
  "subject",
  "to",
  "cc",
  "condition",
  "enrichments",
  "actions",
  "message",
  "message_id",
  "delivery",
  "next_attempt_at",
  "last_error",
  "jira_keys",
  "severity",
  "thread_key",
] satisfies (keyof AlertPatch)[];
/** Patchable alert fields stored as JSON text in a column of the same name. */
export const JSON_FIELDS: Set<string> = new Set([
  "enrichments",
  "actions",
  "message",
  "delivery",
  "jira_keys",
  "condition",
]);

/** Throws when `patch` names a field `updateAlert` cannot set (both stores check before any SQL). */
export function checkPatch(id: string, patch: AlertPatch): void {
  const unknown = Object.keys(patch).find((field) =>
    !PATCH_FIELDS.includes(field)
  );
  if (unknown !== undefined) {
    throw new TypeError(
      `Cannot update alert "${id}": field "${unknown}" cannot be patched`,
    );
  }
}

/**
 * The column value of a patched field (not `to`/`cc`, which go into `recipients`): null for a field
 * given as undefined (cleared), `next_attempt_at` as an ISO time, JSON fields as JSON text.
 */
export function patchValue(
  field: string,
  value: unknown,
): string | number | null {
  if (value === undefined) return null;
  if (field === "next_attempt_at") return toIso(value as string, field);
  if (JSON_FIELDS.has(field)) return stringifyJson(value);
  return value as string | number;
}

type Row = Record<string, unknown>;

/** The record an `alerts` row holds. */
export function toAlert(row: Row): AlertRecord {
  const record: AlertRecord = {
    id: row.id as string,
    detector: row.detector as string,
    received_at: row.received_at as string,
    updated_at: row.updated_at as string,
    status: row.status as AlertStatus,
    alert: fromJson(row.alert_json),
    attempts: Number(row.attempts),
  };
  if (row.idempotency_key !== null) {
    record.idempotency_key = row.idempotency_key as string;
  }
  if (row.subject !== null) record.subject = row.subject as string;
  if (row.recipients !== null) {
    const { to, cc } = JSON.parse(row.recipients as string) as {
      to?: string[];
      cc?: string[];
    };
    if (to !== undefined) record.to = to;
    if (cc !== undefined) record.cc = cc;
  }
  if (row.condition !== null) {
    record.condition = fromJson(row.condition);
  }
  if (row.enrichments !== null) {
    record.enrichments = fromJson(row.enrichments);
  }
  if (row.actions !== null) record.actions = fromJson(row.actions);
  if (row.message !== null) record.message = fromJson(row.message);
  if (row.message_id !== null) record.message_id = row.message_id as string;
  if (row.delivery !== null) {
    record.delivery = JSON.parse(row.delivery as string);
  }
  if (row.next_attempt_at !== null) {
    record.next_attempt_at = row.next_attempt_at as string;
  }
  if (row.last_error !== null) record.last_error = row.last_error as string;
  if (row.jira_keys !== null) {
    record.jira_keys = JSON.parse(row.jira_keys as string);
  }
  if (row.fingerprint != null) record.fingerprint = row.fingerprint as string;
  if (row.suppressed_by != null) {
    record.suppressed_by = row.suppressed_by as SuppressedBy;
  }
  if (row.notified_id != null) record.notified_id = row.notified_id as string;
  if (row.silence_id != null) record.silence_id = row.silence_id as string;
  if (row.group_key != null) record.group_key = row.group_key as string;
  if (row.severity != null) record.severity = row.severity as string;
  if (row.thread_key != null) record.thread_key = row.thread_key as string;
  return record;
}

/**
 * The columns of a new `action_runs` row, in the order both stores' INSERTs name them: nonce,
 * alert_id, button, actor, actor_source, client_ip, user_agent, started_at, finished_at, status,
 * steps (PostgreSQL adds the owner after them).
 */
export function actionRunParams(run: ActionRun): (string | null)[] {
  return [
    run.nonce,
    run.alert_id,
    run.button,
    run.actor,
    run.actor_source,
    run.client_ip ?? null,
    run.user_agent ?? null,
    toIso(run.started_at, "started_at"),
    run.finished_at === undefined
      ? null
      : toIso(run.finished_at, "finished_at"),
    run.status,
    stringifyJson(run.steps),
  ];
}

/** The action run an `action_runs` row holds. */
export function toActionRun(row: Row): ActionRun {
  const run: ActionRun = {
    nonce: row.nonce as string,
    alert_id: row.alert_id as string,
    button: row.button as string,
    actor: row.actor as string,
    actor_source: row.actor_source as ActionRun["actor_source"],
    started_at: row.started_at as string,
    status: row.status as ActionRun["status"],
    steps: fromJson(row.steps),
  };
  if (row.client_ip !== null) run.client_ip = row.client_ip as string;
  if (row.user_agent !== null) run.user_agent = row.user_agent as string;
  if (row.finished_at !== null) run.finished_at = row.finished_at as string;
  return run;
}

/** The window a `storm_windows` row holds. */
export function toWindow(row: Row): StormWindow {
  const window: StormWindow = {
    fingerprint: row.fingerprint as string,
    detector: row.detector as string,
    definition: row.definition as string,
    paths: JSON.parse(row.paths as string),
    values: JSON.parse(row.fp_values as string),
    window_ms: Number(row.window_ms),
    window_end: row.window_end as string,
    since_count: Number(row.since_count),
    total: Number(row.total),
    first_seen_at: row.first_seen_at as string,
    last_seen_at: row.last_seen_at as string,
  };
  if (row.notified_id !== null) window.notified_id = row.notified_id as string;
  if (row.notified_at !== null) window.notified_at = row.notified_at as string;
  if (row.acked_by !== null) window.acked_by = row.acked_by as string;
  if (row.acked_at !== null) window.acked_at = row.acked_at as string;
  if (row.resolved_at !== null && row.resolved_at !== undefined) {
    window.resolved_at = row.resolved_at as string;
  }
  return window;
}

/** The silence a `silences` row holds. */
export function toSilence(row: Row): Silence {
  const silence: Silence = {
    id: row.id as string,
    detector: row.detector as string,
    starts_at: row.starts_at as string,
    ends_at: row.ends_at as string,
    created_by: row.created_by as string,
    comment: row.comment as string,
    created_at: row.created_at as string,
    suppressed: Number(row.suppressed),
  };
  if (row.match !== null) silence.match = row.match as string;
  if (row.fingerprint !== null) silence.fingerprint = row.fingerprint as string;
  if (row.expired_at !== null) silence.expired_at = row.expired_at as string;
  return silence;
}

/** The delivery a `channel_deliveries` row holds. */
export function toDelivery(row: Row): ChannelDelivery {
  const delivery: ChannelDelivery = {
    alert_id: row.alert_id as string,
    channel: row.channel as string,
    event: row.event as string,
    type: row.type as string,
    status: row.status as ChannelDeliveryStatus,
    attempts: Number(row.attempts),
    created_at: row.created_at as string,
    updated_at: row.updated_at as string,
    next_attempt_at: row.next_attempt_at as string,
    payload: parseJson(row.payload as string) as Record<string, unknown>,
  };
  if (row.lease_until !== null) {
    delivery.lease_until = row.lease_until as string;
  }
  if (row.last_error !== null) delivery.last_error = row.last_error as string;
  if (row.delivered_at !== null) {
    delivery.delivered_at = row.delivered_at as string;
  }
  if (row.result !== null) {
    delivery.result = parseJson(row.result as string) as Record<
      string,
      unknown
    >;
  }
  return delivery;
}

/** The timer a `storm_timers` row holds. */
export function toTimer(row: Record<string, unknown>): StormTimer {
  return {
    id: row.id as string,
    kind: row.kind as StormTimer["kind"],
    due_at: row.due_at as string,
    ref: JSON.parse(row.ref as string),
  };
}

/** The breaker state a `storm_breaker` row holds. */
export function toBreaker(row: Record<string, unknown>): BreakerState {
  const state: BreakerState = {
    detector: row.detector as string,
    mode: row.mode as "on" | "off",
    bucket_start: row.bucket_start as string,
    bucket_count: Number(row.bucket_count),
    prev_count: Number(row.prev_count),
    period_count: Number(row.period_count),
  };
  if (row.on_since !== null) state.on_since = row.on_since as string;
  if (row.period_start !== null) {
    state.period_start = row.period_start as string;
  }
  return state;
}

/** The group a `storm_groups` row holds. */
export function toGroup(row: Record<string, unknown>): StormGroup {
  const group: StormGroup = {
    group_key: row.group_key as string,
    detector: row.detector as string,
    paths: JSON.parse(row.paths as string),
    values: JSON.parse(row.fp_values as string),
  };
  if (row.last_sent_at !== null) {
    group.last_sent_at = row.last_sent_at as string;
  }
  if (row.flush_at !== null) group.flush_at = row.flush_at as string;
  return group;
}

/** What an alert row says about redelivering it (`redeliver` in both stores). */
export interface RedeliveryRow {
  id: string;
  detector: string;
  status: string;
  attempts: number;
  last_error: string | null;
  /** `message IS NOT NULL`, `subject IS NOT NULL`, `alert_json = '{}'`. */
  has_message: boolean;
  composed: boolean;
  purged: boolean;
}

/**
 * What redelivering alert `id` does, the same in both stores: the redelivery to record (the email
 * re-queued when the alert is "failed" and its email or body is still stored; its failed
 * `channels`), or why it is skipped. `row` is undefined when there is no such alert.
 */
export function plannedRedelivery(
  id: string,
  row: RedeliveryRow | undefined,
  channels: { channel: string; event: string }[],
  options: { now: Date; actor: string; source: Redelivery["source"] },
): { redelivery: Redelivery } | { skipped: string } {
  if (!row) return { skipped: "no such alert" };
  // Why the email is not re-queued; its failed channels still are.
  const noEmail = row.status !== "failed"
    ? `nothing failed (status ${row.status})`
    : row.purged || (row.composed && !row.has_message)
    ? "its email was removed by retention: it cannot be sent again as it was"
    : undefined;
  if (noEmail !== undefined && channels.length === 0) {
    return { skipped: noEmail };
  }
  const email = noEmail === undefined;
  return {
    redelivery: {
      id: uuidv7(options.now.getTime()),
      alert_id: id,
      detector: row.detector,
      at: options.now.toISOString(),
      actor: options.actor,
      source: options.source,
      email,
      channels,
      previous_attempts: row.attempts,
      ...(row.last_error !== null ? { previous_error: row.last_error } : {}),
    },
  };
}

/** The redelivery a `redeliveries` row holds. */
export function toRedelivery(row: Row): Redelivery {
  const redelivery: Redelivery = {
    id: row.id as string,
    alert_id: row.alert_id as string,
    detector: row.detector as string,
    at: row.at as string,
    actor: row.actor as string,
    source: row.source as Redelivery["source"],
    email: Boolean(Number(row.email)),
    channels: JSON.parse(row.channels as string),
    previous_attempts: Number(row.previous_attempts),
  };
  if (row.previous_error !== null && row.previous_error !== undefined) {
    redelivery.previous_error = row.previous_error as string;
  }
  return redelivery;
}
