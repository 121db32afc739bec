/**
 * Storm control (issue 11): the decision made for each alert of a detector with a `storm` block, after
 * `preprocess` and before enrichment, as one atomic store operation (`Store.storm.decide`): notify
 * (mail it, opening a realert window), or suppress (store and count it, with the reason and the alert
 * whose email covers it). Silences are matched here (a CEL `match` is evaluated in this process) and
 * passed to the decision, and so is whether the alert reports a resolution (`status: resolved`: a
 * fingerprint's first resolve goes through its window). Fingerprints are `_fingerprint.ts`; the window
 * rule is the store's (`core/store/storm_window.ts`), so every backend applies the same one. See
 * docs/storm.md.
 *
 * @module
 */
import type { LoadedDetector } from "../config/config.ts";
import type { StormConfig } from "../config/schema.ts";
import { importLazy } from "../lazy.ts";
import { isResolved } from "../resolved.ts";
import type {
  Silence,
  Store,
  StormDecision,
  StormPolicy,
} from "../store/store.ts";
import { type Fingerprint, fingerprintOf, groupOf } from "./_fingerprint.ts";
export {
  addSilence,
  DEFAULT_SILENCE_MS,
  MAX_SILENCE_MS,
  type SilenceRequest,
} from "./_silences.ts";

export {
  definitionHash,
  type Fingerprint,
  fingerprintOf,
  MISSING,
  missingPaths,
  shownValue,
} from "./_fingerprint.ts";

/** The store decision's settings from a detector's `storm` block. */
export function stormPolicy(storm: StormConfig): StormPolicy {
  return {
    realertMs: storm.realert,
    ...(storm.realert_max !== undefined
      ? { realertMaxMs: storm.realert_max }
      : {}),
    digest: storm.digest,
    ackQuietMs: storm.ack_quiet,
  };
}

/** What deciding needs: the store, the runtime's clock, and the global storm breaker (null: off). */
export interface StormDeps {
  store: Store;
  clock?: (() => Date) | undefined;
  log?: (event: string, fields?: Record<string, unknown>) => void;
  breaker?: { perHour: number } | null | undefined;
}

/** A decision with the fingerprint it was made for. */
export type StormOutcome = StormDecision & { fingerprint: Fingerprint };

/**
 * Decides on one alert of `detector` (undefined when the detector has no `storm` block: one email per
 * alert, as without storm control). A suppressed alert is recorded as such by the store.
 */
export async function decideStorm(
  deps: StormDeps,
  detector: LoadedDetector,
  alert: { id: string; alert: Record<string, unknown> },
): Promise<StormOutcome | undefined> {
  const storm = detector.config.storm;
  const now = deps.clock?.() ?? new Date();
  if (!storm) {
    // No fingerprints: one email per alert, unless a silence covers it.
    const silence = await matchingSilence(deps, {
      detector: detector.name,
      alert: alert.alert,
      now,
    });
    const none = { id: "", definition: "", paths: [], values: [] };
    if (silence) {
      await deps.store.storm.silenced(alert.id, silence.id, now);
      return {
        action: "suppress",
        reason: "silence",
        silenceId: silence.id,
        fingerprint: none,
      };
    }
    if (!deps.breaker) return undefined;
    const breaker = await deps.store.storm.breaker({
      alertId: alert.id,
      detector: detector.name,
      now,
      perHour: deps.breaker.perHour,
    });
    if (!breaker.held) return undefined;
    return {
      action: "suppress",
      reason: "breaker",
      rate: breaker.rate,
      ...(breaker.notice ? { notice: breaker.notice } : {}),
      fingerprint: none,
    };
  }
  const fingerprint = fingerprintOf(
    detector.name,
    storm.fingerprint,
    alert.alert,
  );
  const silence = await matchingSilence(deps, {
    detector: detector.name,
    fingerprint: fingerprint.id,
    alert: alert.alert,
    now,
  });
  const decision = await deps.store.storm.decide({
    alertId: alert.id,
    detector: detector.name,
    fingerprint: fingerprint.id,
    definition: fingerprint.definition,
    paths: fingerprint.paths,
    values: fingerprint.values,
    now,
    policy: stormPolicy(storm),
    ...(silence ? { silenceId: silence.id } : {}),
    ...(isResolved(alert.alert) ? { resolved: true } : {}),
    ...(deps.breaker ? { breaker: { perHour: deps.breaker.perHour } } : {}),
    ...(storm.group
      ? {
        group: {
          ...(groupOf(
            detector.name,
            fingerprint.definition,
            storm.group.by,
            alert.alert,
          )),
          waitMs: storm.group.wait,
          intervalMs: storm.group.interval,
        },
      }
      : {}),
  });
  return { ...decision, fingerprint };
}

/** ` (+37 similar since 10:02)` for the subject of the next regular email, or "". */
export function similarSuffix(
  since: { count: number; at: string } | undefined,
): string {
  if (!since || since.count <= 0) return "";
  return ` (+${since.count} similar since ${clockTime(since.at)})`;
}

/** `10:02` (UTC) of an ISO time. */
export function clockTime(iso: string): string {
  return new Date(iso).toISOString().slice(11, 16);
}

/** The first active silence that covers this alert, if any. */
export async function matchingSilence(
  deps: StormDeps,
  target: {
    detector: string;
    fingerprint?: string | undefined;
    alert: Record<string, unknown>;
    now: Date;
  },
): Promise<Silence | undefined> {
  const silences = await deps.store.storm.listSilences({ now: target.now });
  for (const silence of silences) {
    if (silence.detector !== "*" && silence.detector !== target.detector) {
      continue;
    }
    if (
      silence.fingerprint !== undefined &&
      silence.fingerprint !== target.fingerprint
    ) continue;
    if (silence.match !== undefined) {
      try {
        const condition = await compiled(silence.match);
        if (!condition.matches(target.alert)) continue;
      } catch (err) {
        deps.log?.("silence_match_error", {
          silence_id: silence.id,
          error: (err as Error).message,
        });
        continue;
      }
    }
    return silence;
  }
  return undefined;
}

type Compiled = { matches(alert: Record<string, unknown>): boolean };
const conditions = new Map<string, Compiled>();

/** Compiles a silence's CEL match once per process (the engine is loaded only when one exists). */
async function compiled(source: string): Promise<Compiled> {
  let condition = conditions.get(source);
  if (!condition) {
    const { compileCondition } = await importLazy<
      typeof import("../config/conditions.ts")
    >("core/config/conditions.ts");
    condition = compileCondition(source);
    if (conditions.size > 1000) conditions.clear();
    conditions.set(source, condition);
  }
  return condition;
}

/** Indices of the digest's own buttons in a signed token (after the detector's reply buttons). */
export const STORM_BUTTON_INDEX = { silence4h: 253, silence24h: 254, ack: 255 };

/** A storm button: the same shape as a detector's reply button. */
export interface StormButton {
  name: string;
  config: {
    color: string;
    actions: {
      name: string;
      config: {
        enabled: boolean;
        return_name?: string;
        [key: string]: unknown;
      };
    }[];
  };
}

/** The digest's own buttons, by token index (silence this fingerprint 4h / 24h, ack). */
export const STORM_BUTTONS: ReadonlyMap<number, StormButton> = new Map([
  [STORM_BUTTON_INDEX.silence4h, silenceButton("4h")],
  [STORM_BUTTON_INDEX.silence24h, silenceButton("24h")],
  [STORM_BUTTON_INDEX.ack, {
    name: "Ack this fingerprint",
    config: {
      color: "green",
      actions: [{ name: "ack", config: { enabled: true } }],
    },
  }],
]);

function silenceButton(duration: string): StormButton {
  return {
    name: `Silence this fingerprint ${duration}`,
    config: {
      color: "grey",
      actions: [{
        name: "silence",
        config: { enabled: true, for: duration, scope: "fingerprint" },
      }],
    },
  };
}

/** The storm button a token's index names, for a detector with storm control. */
export function stormButton(
  detector: LoadedDetector,
  index: number,
): StormButton | undefined {
  return detector.config.storm ? STORM_BUTTONS.get(index) : undefined;
}
