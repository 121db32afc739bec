/**
 * Storm control's part of the store contract for one fingerprint: the shapes of a storm decision and
 * of a fingerprint's window, and the pure window rule every backend applies inside its one atomic
 * statement or transaction (`decideWindow`), so SQLite and PostgreSQL decide alike. The breaker and
 * group rules are `storm_rules.ts`, timers `storm_timers.ts`, silences `storm_silence.ts`; the flow
 * of a whole decision is `storm_plan.ts`.
 *
 * The rule, for one alert of a fingerprint (see docs/storm.md):
 * - the alert that opened the window asks again (a crash between decision and delivery): notify again;
 * - acked and not yet quiet for `ackQuietMs`: suppressed, reason `ack` (quiet that long ends the ack);
 * - a silence matched (the caller evaluated it): suppressed, reason `silence`;
 * - inside the window: suppressed, reason `realert`;
 * - otherwise notify and open a window: `realertMs`, or, with `realertMaxMs`, twice the last window (at
 *   most `realertMaxMs`) while the fingerprint kept firing (its last alert less than 2× the last window
 *   ago); back to `realertMs` after a quiet spell of that length.
 *
 * Resolutions (`resolved`: the alert's `status` is "resolved"): the first resolve of a fingerprint whose
 * firing was mailed is mailed once (`resolve: true`), inside the window or not, acked or not (it closes
 * the PagerDuty incident; the ack stays until quiet), and closes the window; a silence still holds it.
 * A resolve of a fingerprint already resolved, or never mailed, is suppressed (`realert`, or `ack`
 * while acked). The next firing after a mailed resolve is mailed at once and opens a fresh window.
 *
 * @module
 */

/** Why an alert was stored and not mailed. */
export type SuppressedBy = "realert" | "group" | "silence" | "ack" | "breaker";

/** The per-detector storm settings a decision applies (from the detector's `storm` block). */
export interface StormPolicy {
  realertMs: number;
  /** Windows double up to this while the fingerprint keeps firing; absent: no growth. */
  realertMaxMs?: number;
  /** Send a digest when a window closes with suppressed alerts. */
  digest: boolean;
  /** An ack lasts until the fingerprint has been quiet this long. */
  ackQuietMs: number;
}

/** One alert to decide on. */
export interface StormInput {
  alertId: string;
  detector: string;
  /** The fingerprint id: a hash of detector, definition and values (see core/storm). */
  fingerprint: string;
  /** Hash of the fingerprint definition (the list of paths). */
  definition: string;
  /** The paths of the definition, in order. */
  paths: string[];
  /** The alert's value at each path, as shown to people (`(missing)` for an absent path). */
  values: string[];
  now: Date;
  policy: StormPolicy;
  /** An active silence that matches the alert, as the caller evaluated it. */
  silenceId?: string;
  /** The global storm breaker, when on: an alert that would be mailed counts against it. */
  breaker?: { perHour: number };
  /** `storm.group`: a new fingerprint joins its group's batch instead of being mailed alone. */
  group?: GroupInput;
  /** The alert reports a resolution (`status: resolved`). */
  resolved?: boolean;
}

/** What to do with the alert. */
export type StormDecision =
  | {
    action: "notify";
    /** Suppressed since the previous regular email (for `(+37 similar since 10:02)`). */
    since?: { count: number; at: string };
    /** The window this email opens (a resolve: none, 0 ending now). */
    windowMs: number;
    windowEnd: string;
    /**
     * The fingerprint's resolve (firing → resolved): mailed regardless of the window, never grouped,
     * no digest timer; the storm breaker still holds it in storm mode.
     */
    resolve?: true;
  }
  | {
    action: "suppress";
    reason: SuppressedBy;
    /** The alert whose email covers this one (undefined when none was mailed yet, e.g. silenced). */
    notifiedId?: string;
    silenceId?: string;
    /** Reason `breaker`: set when this alert switched storm mode on (send the notice). */
    notice?: "on";
    /** Reason `breaker`: emails an hour when it switched on. */
    rate?: number;
    /** Reason `group`: the group whose batch it joined. */
    groupKey?: string;
  };

/** The state of one fingerprint, as stored. */
export interface StormWindow {
  fingerprint: string;
  detector: string;
  definition: string;
  paths: string[];
  values: string[];
  /** The alert whose email opened the current (or last) window. */
  notified_id?: string;
  notified_at?: string;
  window_ms: number;
  window_end: string;
  /** Suppressed since the last regular email. */
  since_count: number;
  /** Alerts of this fingerprint ever seen. */
  total: number;
  first_seen_at: string;
  last_seen_at: string;
  acked_by?: string;
  acked_at?: string;
  /** Set when the fingerprint's last email was its resolve (`notified_id`); a firing email clears it. */
  resolved_at?: string;
}

/** The window rule: the decision, and the window as it is afterwards (undefined: unchanged). */
export function decideWindow(
  row: StormWindow | undefined,
  input: StormInput,
): { decision: StormDecision; window: StormWindow } {
  const now = input.now.getTime();
  const at = input.now.toISOString();
  const { policy } = input;
  if (row && row.notified_id === input.alertId) {
    return {
      decision: {
        action: "notify",
        windowMs: row.window_ms,
        windowEnd: row.window_end,
        ...(row.resolved_at !== undefined ? { resolve: true as const } : {}),
      },
      window: row,
    };
  }
  // The transition firing → resolved of a fingerprint whose firing was mailed.
  const resolves = input.resolved === true && row?.notified_id !== undefined &&
    row.resolved_at === undefined;
  const seen = row
    ? { ...row, total: row.total + 1, last_seen_at: at }
    : undefined;
  const suppress = (
    window: StormWindow,
    reason: SuppressedBy,
  ): { decision: StormDecision; window: StormWindow } => ({
    decision: {
      action: "suppress",
      reason,
      ...(window.notified_id ? { notifiedId: window.notified_id } : {}),
      ...(reason === "silence" && input.silenceId
        ? { silenceId: input.silenceId }
        : {}),
    },
    window: { ...window, since_count: window.since_count + 1 },
  });
  if (row && seen && row.acked_at !== undefined) {
    if (now - Date.parse(row.last_seen_at) >= policy.ackQuietMs) {
      delete seen.acked_at;
      delete seen.acked_by;
    } else if (!resolves) {
      return suppress(seen, "ack");
    }
  }
  if (input.silenceId !== undefined) {
    return suppress(
      seen ?? {
        ...freshWindow(input, at),
        window_ms: 0,
        window_end: at,
      },
      "silence",
    );
  }
  if (input.resolved === true && !resolves) {
    // Already resolved, or never mailed: nothing to close.
    return suppress(seen ?? freshWindow(input, at), "realert");
  }
  const since = row && row.since_count > 0
    ? { count: row.since_count, at: row.notified_at ?? row.first_seen_at }
    : undefined;
  if (resolves) {
    // Mailed once, window or not; it closes the window, so the next firing opens a fresh one.
    return {
      decision: {
        action: "notify",
        windowMs: 0,
        windowEnd: at,
        resolve: true,
        ...(since ? { since } : {}),
      },
      window: {
        ...seen!,
        notified_id: input.alertId,
        notified_at: at,
        window_ms: 0,
        window_end: at,
        since_count: 0,
        resolved_at: at,
      },
    };
  }
  if (row && seen && row.notified_id && now < Date.parse(row.window_end)) {
    return suppress(seen, "realert");
  }
  const kept = row !== undefined && row.window_ms > 0 &&
    now - Date.parse(row.last_seen_at) < 2 * row.window_ms;
  const windowMs = policy.realertMaxMs !== undefined && kept
    ? Math.min(
      Math.max(row!.window_ms * 2, policy.realertMs),
      policy.realertMaxMs,
    )
    : policy.realertMs;
  const windowEnd = new Date(now + windowMs).toISOString();
  const window: StormWindow = {
    ...(seen ?? freshWindow(input, at)),
    notified_id: input.alertId,
    notified_at: at,
    window_ms: windowMs,
    window_end: windowEnd,
    since_count: 0,
  };
  delete window.resolved_at;
  return {
    decision: {
      action: "notify",
      windowMs,
      windowEnd,
      ...(since ? { since } : {}),
    },
    window,
  };
}

/** The window of a fingerprint seen for the first time (no email yet). */
export function freshWindow(input: StormInput, at: string): StormWindow {
  return {
    fingerprint: input.fingerprint,
    detector: input.detector,
    definition: input.definition,
    paths: input.paths,
    values: input.values,
    window_ms: 0,
    window_end: at,
    since_count: 0,
    total: 1,
    first_seen_at: at,
    last_seen_at: at,
  };
}

/** A fingerprint's window after an alert the breaker held (no email, so no new window). */
export function heldWindow(
  row: StormWindow | undefined,
  input: StormInput,
): StormWindow {
  const at = input.now.toISOString();
  if (row) {
    return {
      ...row,
      total: row.total + 1,
      last_seen_at: at,
      since_count: row.since_count + 1,
    };
  }
  return { ...freshWindow(input, at), since_count: 1 };
}

/** The group of an alert whose fingerprint opens a window (`StormInput.group`). */
export interface GroupInput {
  key: string;
  paths: string[];
  values: string[];
  waitMs: number;
  intervalMs: number;
}

/** `suppressedCounts` from `(suppressed_by, n)` rows. */
export function countsByReason(
  rows: Iterable<Record<string, unknown>>,
): Partial<Record<SuppressedBy, number>> {
  const counts: Partial<Record<SuppressedBy, number>> = {};
  for (const row of rows) {
    counts[row.suppressed_by as SuppressedBy] = Number(row.n);
  }
  return counts;
}
