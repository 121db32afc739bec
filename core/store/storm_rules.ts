/**
 * Storm control's rules beyond one fingerprint's window, pure and shared by every backend: the storm
 * breaker's state, its sliding hour (`breakerStep`) and its 15-minute tick (`breakerTickStep`), and
 * a group's row, its batch (`groupStep`) and how the batch is handed over (`handedOver`). The window rule is `storm_window.ts`; how a decision chains them and what it
 * writes is `storm_plan.ts`.
 *
 * @module
 */
import type { GroupInput } from "./storm_window.ts";

/** The storm breaker's state for one detector (`storm_breaker: 200/h`). */
export interface BreakerState {
  detector: string;
  mode: "on" | "off";
  /** The current hour bucket of emails (sliding-window counter with the previous bucket). */
  bucket_start: string;
  bucket_count: number;
  prev_count: number;
  /** In storm mode: when it began, and the current 15-minute digest period. */
  on_since?: string;
  period_start?: string;
  /** Alerts held back in the current period. */
  period_count: number;
}

/** What the breaker says of one alert that would be mailed. */
export interface BreakerOutcome {
  state: BreakerState;
  held: boolean;
  /** Set when this alert switched storm mode on. */
  notice?: "on";
  /** Emails an hour, as estimated when it switched on. */
  rate: number;
}

/** Minutes between storm-mode digests. */
export const BREAKER_PERIOD_MS = 15 * 60_000;
const HOUR = 3_600_000;

/**
 * The breaker rule: emails of a detector are counted in a sliding hour (this hour's bucket plus the
 * previous one, weighted by what is left of it); the email that would go over `perHour` switches
 * storm mode on, and from then every alert that would be mailed is held for the 15-minute digest.
 */
export function breakerStep(
  row: BreakerState | undefined,
  input: { detector: string; now: Date; perHour: number },
): BreakerOutcome {
  const now = input.now.getTime();
  const at = input.now.toISOString();
  const hour = Math.floor(now / HOUR) * HOUR;
  let state: BreakerState = row ? { ...row } : {
    detector: input.detector,
    mode: "off",
    bucket_start: new Date(hour).toISOString(),
    bucket_count: 0,
    prev_count: 0,
    period_count: 0,
  };
  const start = Date.parse(state.bucket_start);
  if (now >= start + HOUR) {
    state = {
      ...state,
      prev_count: now < start + 2 * HOUR ? state.bucket_count : 0,
      bucket_start: new Date(hour).toISOString(),
      bucket_count: 0,
    };
  }
  const rate = Math.round(
    state.prev_count * (1 - (now - Date.parse(state.bucket_start)) / HOUR) +
      state.bucket_count + 1,
  );
  if (state.mode === "on") {
    return {
      state: { ...state, period_count: state.period_count + 1 },
      held: true,
      rate,
    };
  }
  if (rate > input.perHour) {
    return {
      state: {
        ...state,
        mode: "on",
        on_since: at,
        period_start: at,
        period_count: 1,
      },
      held: true,
      notice: "on",
      rate,
    };
  }
  return {
    state: { ...state, bucket_count: state.bucket_count + 1 },
    held: false,
    rate,
  };
}

/** What a storm-mode tick says: the period it closed, and whether storm mode ended. */
export interface BreakerTick {
  ended: boolean;
  periodStart: string;
  count: number;
  rate: number;
}

/**
 * The tick rule, every 15 minutes of storm mode: the closed period's rate (its held alerts an hour);
 * at or under `perHour` storm mode ends (the hour's counts start again), else a new period begins and
 * the next tick is due (`next`). Undefined when the detector is not in storm mode.
 */
export function breakerTickStep(
  state: BreakerState | undefined,
  input: { now: Date; perHour: number },
): { state: BreakerState; tick: BreakerTick; next?: string } | undefined {
  if (!state || state.mode !== "on" || !state.period_start) return undefined;
  const now = input.now.getTime();
  const elapsed = Math.max(60_000, now - Date.parse(state.period_start));
  const rate = Math.round(state.period_count * HOUR / elapsed);
  const ended = rate <= input.perHour;
  const tick = {
    ended,
    periodStart: state.period_start,
    count: state.period_count,
    rate,
  };
  if (ended) {
    return {
      state: {
        detector: state.detector,
        mode: "off",
        bucket_start: new Date(Math.floor(now / HOUR) * HOUR).toISOString(),
        bucket_count: 0,
        prev_count: 0,
        period_count: 0,
      },
      tick,
    };
  }
  return {
    state: { ...state, period_start: input.now.toISOString(), period_count: 0 },
    tick,
    next: new Date(now + BREAKER_PERIOD_MS).toISOString(),
  };
}

/**
 * The group rule, for an alert whose fingerprint would be mailed: with `wait: 0s` and no batch
 * waiting, the first email goes at once (and starts the interval); otherwise the alert joins the
 * waiting batch, or starts one due at `now + wait`, or at the end of the interval after the last
 * email, whichever is later.
 */
export function groupStep(
  row: StormGroup | undefined,
  input: { detector: string; now: Date; group: GroupInput },
): { group: StormGroup; join: boolean; schedule?: string } {
  const now = input.now.getTime();
  const at = input.now.toISOString();
  const base: StormGroup = row ?? {
    group_key: input.group.key,
    detector: input.detector,
    paths: input.group.paths,
    values: input.group.values,
  };
  if (base.flush_at !== undefined) return { group: base, join: true };
  const allowed = base.last_sent_at === undefined
    ? -Infinity
    : Date.parse(base.last_sent_at) + input.group.intervalMs;
  if (input.group.waitMs === 0 && now >= allowed) {
    return { group: { ...base, last_sent_at: at }, join: false };
  }
  const due = new Date(Math.max(now + input.group.waitMs, allowed))
    .toISOString();
  return { group: { ...base, flush_at: due }, join: true, schedule: due };
}

/** A group of fingerprints (`storm.group`): when its last email went, and the batch waiting, if any. */
export interface StormGroup {
  group_key: string;
  detector: string;
  paths: string[];
  values: string[];
  last_sent_at?: string;
  /** When the waiting batch's email is due; absent when no batch waits. */
  flush_at?: string;
}

/**
 * A group's batch as `flushGroup` hands it over: every alert with the grouped email's Message-ID, and
 * all but the first naming the first as the alert whose email covers them.
 */
export function handedOver<T extends { id: string }>(
  rows: T[],
  messageId: string,
): (T & { message_id: string; notified_id?: string })[] {
  return rows.map((r, i) => ({
    ...r,
    ...(i > 0 ? { notified_id: rows[0]!.id } : {}),
    message_id: messageId,
  }));
}
