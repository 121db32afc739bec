/**
 * The storm breaker on the SQLite store: the per-detector row `breakerStep` reads and writes inside
 * the caller's write (a decision, or an alert of a detector without fingerprints), and the 15-minute
 * tick of storm mode. Pure SQL helpers; `_storm.ts` runs them in its writes.
 *
 * @module
 */
import type { StatementSync } from "node:sqlite";
import {
  BREAKER_PERIOD_MS,
  type BreakerOutcome,
  type BreakerState,
  breakerStep,
} from "../store.ts";

type Sql = (sql: string) => StatementSync;

/** Applies the breaker to one alert that would be mailed; schedules the first tick when it switches on. */
export function applyBreaker(
  sql: Sql,
  input: { detector: string; now: Date; perHour: number },
  schedule: (id: string, due: string, ref: Record<string, string>) => void,
): BreakerOutcome {
  const found = sql("SELECT * FROM storm_breaker WHERE detector = ?").get(
    input.detector,
  );
  const outcome = breakerStep(found ? toState(found) : undefined, input);
  writeState(sql, outcome.state);
  if (outcome.notice === "on") {
    const at = input.now.toISOString();
    schedule(
      `breaker:${input.detector}:${at}`,
      new Date(input.now.getTime() + BREAKER_PERIOD_MS).toISOString(),
      { detector: input.detector, period_start: at },
    );
  }
  return outcome;
}

/** The tick: closes the period, ends storm mode or schedules the next tick. */
export function breakerTick(
  sql: Sql,
  input: { detector: string; now: Date; perHour: number },
  schedule: (id: string, due: string, ref: Record<string, string>) => void,
):
  | { ended: boolean; periodStart: string; count: number; rate: number }
  | undefined {
  const found = sql("SELECT * FROM storm_breaker WHERE detector = ?").get(
    input.detector,
  );
  if (!found) return undefined;
  const state = toState(found);
  if (state.mode !== "on" || !state.period_start) return undefined;
  const at = input.now.toISOString();
  const elapsed = Math.max(
    60_000,
    input.now.getTime() - Date.parse(state.period_start),
  );
  const rate = Math.round(state.period_count * 3_600_000 / elapsed);
  const ended = rate <= input.perHour;
  const next: BreakerState = ended
    ? {
      ...state,
      mode: "off",
      bucket_start: new Date(
        Math.floor(input.now.getTime() / 3_600_000) * 3_600_000,
      ).toISOString(),
      bucket_count: 0,
      prev_count: 0,
      period_count: 0,
    }
    : { ...state, period_start: at, period_count: 0 };
  if (ended) {
    delete next.on_since;
    delete next.period_start;
  } else {
    schedule(
      `breaker:${input.detector}:${at}`,
      new Date(input.now.getTime() + BREAKER_PERIOD_MS).toISOString(),
      { detector: input.detector, period_start: at },
    );
  }
  writeState(sql, next);
  return {
    ended,
    periodStart: state.period_start,
    count: state.period_count,
    rate,
  };
}

function toState(row: Record<string, unknown>): BreakerState {
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

function writeState(sql: Sql, s: BreakerState): void {
  sql(
    `INSERT INTO storm_breaker (detector, mode, bucket_start, bucket_count, prev_count, on_since, period_start, period_count)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (detector) DO UPDATE SET mode = excluded.mode, bucket_start = excluded.bucket_start,
      bucket_count = excluded.bucket_count, prev_count = excluded.prev_count, on_since = excluded.on_since,
      period_start = excluded.period_start, period_count = excluded.period_count`,
  ).run(
    s.detector,
    s.mode,
    s.bucket_start,
    s.bucket_count,
    s.prev_count,
    s.on_since ?? null,
    s.period_start ?? null,
    s.period_count,
  );
}
