/**
 * The flow of a storm decision, shared by every backend: what one atomic decision reads and what it
 * writes. Each `plan*` function is a generator that asks its backend for the rows it needs, in order
 * (`yield { read: "breaker" }` only when the alert would be mailed and the breaker is on, `yield {
 * read: "group" }` only when it would still be mailed and the detector groups, `yield { read:
 * "batched" }` only for a resolve of a grouped detector), applies the pure rules (`decideWindow`,
 * `breakerStep`, `breakerTickStep`, `groupStep`, `heldWindow`) and returns a {@link StormPlan}: the
 * rows to write, with the timers of `storm_timers.ts`. A backend drives it with its own statements inside its one
 * write or transaction (`drive` for SQLite's synchronous writes, `driveAsync` for PostgreSQL, which
 * takes its advisory locks as it reads) and writes the plan; it keeps only its SQL.
 *
 * @module
 */
import {
  type BreakerState,
  breakerStep,
  type BreakerTick,
  breakerTickStep,
  groupStep,
  type StormGroup,
} from "./storm_rules.ts";
import {
  breakerTimer,
  groupTimer,
  type StormTimer,
  windowTimer,
} from "./storm_timers.ts";
import {
  decideWindow,
  heldWindow,
  type StormDecision,
  type StormInput,
  type StormWindow,
  type SuppressedBy,
} from "./storm_window.ts";

/**
 * A row a decision needs, read (after its lock, on PostgreSQL) inside the decision's transaction:
 * the detector's breaker, the group's row, or (`batched`) the group's row only if `alertId` still
 * waits in its batch (suppressed by `group`, not handed to an email yet).
 */
export type StormRead =
  | { read: "breaker"; detector: string }
  | { read: "group"; key: string }
  | { read: "batched"; key: string; alertId: string };

/** What a read gives back: the detector's breaker state or the group's row, if stored. */
export type StormRow = BreakerState | StormGroup | undefined;

/** How the decided alert is recorded. */
export interface AlertMark {
  id: string;
  /** The alert's fingerprint id (absent for a detector without `storm`). */
  fingerprint?: string;
  /** Status "suppressed" with these columns (lease cleared); absent: only the fingerprint is set. */
  suppressed?: {
    reason: SuppressedBy;
    notifiedId?: string;
    silenceId?: string;
    groupKey?: string;
  };
}

/** What one decision writes, and what it returns to its caller. */
export interface StormPlan<T> {
  result: T;
  /** The fingerprint's window (an upsert). */
  window?: StormWindow;
  /** The detector's breaker state (an upsert). */
  breaker?: BreakerState;
  /** The group's row (an upsert). */
  group?: StormGroup;
  /** Timers to schedule (one kept where its id exists). */
  timers: StormTimer[];
  alert?: AlertMark;
  /** A silence whose `suppressed` count goes up by one. */
  silence?: string;
}

/** A decision's steps: reads asked for, then the plan. */
export type PlanSteps<T> = Generator<StormRead, StormPlan<T>, StormRow>;

/** Runs a plan's steps with synchronous reads (inside a SQLite write). */
export function drive<T>(
  steps: PlanSteps<T>,
  read: (what: StormRead) => StormRow,
): StormPlan<T> {
  let step = steps.next();
  while (!step.done) step = steps.next(read(step.value));
  return step.value;
}

/** Runs a plan's steps awaiting each read (inside a PostgreSQL transaction). */
export async function driveAsync<T>(
  steps: PlanSteps<T>,
  read: (what: StormRead) => Promise<StormRow>,
): Promise<StormPlan<T>> {
  let step = steps.next();
  while (!step.done) step = steps.next(await read(step.value));
  return step.value;
}

/**
 * One alert of a fingerprint (`StormStore.decide`), given its window as stored: the window rule; a
 * resolve whose firing still waits in its group's batch joins that batch (folded into the grouped
 * email, which says it resolved: nobody was told it fired yet); then the breaker for an alert that
 * would be mailed (held in storm mode: no window opens), then the group (a resolve is never grouped
 * on its own); the alert's record, and the digest timer of the window it opens.
 */
export function* planDecision(
  row: StormWindow | undefined,
  input: StormInput,
): PlanSteps<StormDecision> {
  let { decision, window } = decideWindow(row, input);
  const timers: StormTimer[] = [];
  let groupKey: string | undefined;
  if (
    decision.action === "notify" && decision.resolve && input.group &&
    row?.notified_id !== undefined && row.notified_id !== input.alertId &&
    (yield {
      read: "batched",
      key: input.group.key,
      alertId: row.notified_id,
    })
  ) {
    groupKey = input.group.key;
    decision = { action: "suppress", reason: "group", groupKey };
  }
  let breaker: BreakerState | undefined;
  if (decision.action === "notify" && input.breaker) {
    const step = breakerStep(
      (yield { read: "breaker", detector: input.detector }) as
        | BreakerState
        | undefined,
      {
        detector: input.detector,
        now: input.now,
        perHour: input.breaker.perHour,
      },
    );
    breaker = step.state;
    if (step.notice === "on") {
      timers.push(breakerTimer(input.detector, input.now));
    }
    if (step.held) {
      // Storm mode: no email, so no window opens; the alert waits for the 15-minute digest.
      decision = {
        action: "suppress",
        reason: "breaker",
        rate: step.rate,
        ...(step.notice ? { notice: step.notice } : {}),
      };
      window = heldWindow(row, input);
    }
  }
  let group: StormGroup | undefined;
  if (decision.action === "notify" && !decision.resolve && input.group) {
    const { key } = input.group;
    const step = groupStep(
      (yield { read: "group", key }) as StormGroup | undefined,
      { detector: input.detector, now: input.now, group: input.group },
    );
    group = step.group;
    if (step.schedule) {
      timers.push(groupTimer(key, input.detector, step.schedule));
    }
    if (step.join) {
      // The window opens (its repeats are counted against this alert), the email is the batch's.
      groupKey = key;
      decision = { action: "suppress", reason: "group", groupKey: key };
    }
  }
  const windowEnd = decision.action === "notify"
    ? decision.windowEnd
    : new Date(input.now.getTime() + window.window_ms).toISOString();
  // A window that opens gets its digest; a resolve closes the window, so it has none.
  const opens = decision.action === "notify"
    ? !decision.resolve
    : !!groupKey && window.resolved_at === undefined;
  if (opens && input.policy.digest) {
    timers.push(windowTimer(input, windowEnd));
  }
  const alert: AlertMark = {
    id: input.alertId,
    fingerprint: input.fingerprint,
  };
  if (decision.action === "suppress") {
    alert.suppressed = {
      reason: decision.reason,
      ...(decision.notifiedId ? { notifiedId: decision.notifiedId } : {}),
      ...(decision.silenceId ? { silenceId: decision.silenceId } : {}),
      ...(groupKey ? { groupKey } : {}),
    };
  }
  return {
    result: decision,
    window,
    ...(breaker ? { breaker } : {}),
    ...(group ? { group } : {}),
    timers,
    alert,
    ...(decision.action === "suppress" && decision.silenceId
      ? { silence: decision.silenceId }
      : {}),
  };
}

/** What the breaker says of an alert of a detector without fingerprints (`StormStore.breaker`). */
export interface BreakerResult {
  held: boolean;
  notice?: "on";
  rate: number;
}

/** The breaker for an alert of a detector without fingerprints that would be mailed. */
export function* planBreaker(
  input: { alertId: string; detector: string; now: Date; perHour: number },
): PlanSteps<BreakerResult> {
  const step = breakerStep(
    (yield { read: "breaker", detector: input.detector }) as
      | BreakerState
      | undefined,
    input,
  );
  return {
    result: {
      held: step.held,
      rate: step.rate,
      ...(step.notice ? { notice: step.notice } : {}),
    },
    breaker: step.state,
    timers: step.notice === "on"
      ? [breakerTimer(input.detector, input.now)]
      : [],
    ...(step.held
      ? { alert: { id: input.alertId, suppressed: { reason: "breaker" } } }
      : {}),
  };
}

/** Storm mode's 15-minute tick (`StormStore.breakerTick`): closes the period, ends or goes on. */
export function* planBreakerTick(
  input: { detector: string; now: Date; perHour: number },
): PlanSteps<BreakerTick | undefined> {
  const step = breakerTickStep(
    (yield { read: "breaker", detector: input.detector }) as
      | BreakerState
      | undefined,
    input,
  );
  if (!step) return { result: undefined, timers: [] };
  return {
    result: step.tick,
    breaker: step.state,
    timers: step.next ? [breakerTimer(input.detector, input.now)] : [],
  };
}

/** An alert of a detector without fingerprints held by a silence (`StormStore.silenced`). */
export function planSilenced(
  alertId: string,
  silenceId: string,
): StormPlan<void> {
  return {
    result: undefined,
    timers: [],
    alert: { id: alertId, suppressed: { reason: "silence", silenceId } },
    silence: silenceId,
  };
}
