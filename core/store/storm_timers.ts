/**
 * Storm control's promises to send later, as the store keeps them (`storm_timers`): the timer row,
 * and the id, due time and reference of each kind — a window's digest, a group's flush, storm mode's
 * 15-minute tick, a silence's end. Ids are deterministic, so scheduling one promise twice keeps one
 * row; claimed timers run in due order (`byDue`).
 *
 * @module
 */
import { BREAKER_PERIOD_MS } from "./storm_rules.ts";
import type { StormInput } from "./storm_window.ts";

/** A promise to do something later: claimed like a queue item once due, finished once done. */
export interface StormTimer {
  /** Deterministic (`window:<alert id>`), so scheduling the same promise twice keeps one row. */
  id: string;
  kind: "window" | "silence_end" | "group" | "breaker";
  due_at: string;
  /** What the timer is about (fingerprint, alert id, silence id…), JSON. */
  ref: Record<string, string>;
}

/** The digest of the window `input`'s alert opens, `window:<alert id>`, due when the window ends. */
export function windowTimer(input: StormInput, windowEnd: string): StormTimer {
  return {
    id: `window:${input.alertId}`,
    kind: "window",
    due_at: windowEnd,
    ref: {
      fingerprint: input.fingerprint,
      alert_id: input.alertId,
      detector: input.detector,
      opened_at: input.now.toISOString(),
    },
  };
}

/** A group's batch email, `group:<key>:<due>`, due at `dueAt`. */
export function groupTimer(
  key: string,
  detector: string,
  dueAt: string,
): StormTimer {
  return {
    id: `group:${key}:${dueAt}`,
    kind: "group",
    due_at: dueAt,
    ref: { group_key: key, detector },
  };
}

/** The next tick of storm mode, `breaker:<detector>:<time>`, due 15 minutes after `now`. */
export function breakerTimer(detector: string, now: Date): StormTimer {
  const at = now.toISOString();
  return {
    id: `breaker:${detector}:${at}`,
    kind: "breaker",
    due_at: new Date(now.getTime() + BREAKER_PERIOD_MS).toISOString(),
    ref: { detector, period_start: at },
  };
}

/** A silence's end timer, `silence_end:<id>`, due when it ends. */
export function silenceEndTimer(
  silence: { id: string; ends_at: string },
): StormTimer {
  return {
    id: `silence_end:${silence.id}`,
    kind: "silence_end",
    due_at: silence.ends_at,
    ref: { silence_id: silence.id },
  };
}

/** Claimed timers in due order, ties by id. */
export function byDue(a: StormTimer, b: StormTimer): number {
  if (a.due_at !== b.due_at) return a.due_at < b.due_at ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
