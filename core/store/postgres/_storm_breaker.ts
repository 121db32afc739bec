/**
 * The storm breaker on the PostgreSQL store: the per-detector row `breakerStep` reads and writes, in
 * the caller's transaction after a transaction-scoped advisory lock on the detector (so instances
 * count one after the other), and the 15-minute tick of storm mode.
 *
 * @module
 */
import type { Sql, TransactionSql } from "postgres";
import {
  BREAKER_PERIOD_MS,
  type BreakerOutcome,
  type BreakerState,
  breakerStep,
} from "../store.ts";

type Db = Sql | TransactionSql;
type Schedule = (
  id: string,
  due: string,
  ref: Record<string, string>,
) => Promise<void>;

async function locked(
  db: Db,
  detector: string,
): Promise<BreakerState | undefined> {
  await db.unsafe("SELECT pg_advisory_xact_lock(hashtextextended($1, 11))", [
    `breaker:${detector}`,
  ]);
  const [row] = await db.unsafe(
    "SELECT * FROM storm_breaker WHERE detector = $1",
    [detector],
  );
  return row ? toState(row) : undefined;
}

/** Applies the breaker to one alert that would be mailed (inside the caller's transaction). */
export async function applyBreaker(
  db: Db,
  input: { detector: string; now: Date; perHour: number },
  schedule: Schedule,
): Promise<BreakerOutcome> {
  const outcome = breakerStep(await locked(db, input.detector), input);
  await writeState(db, outcome.state);
  if (outcome.notice === "on") {
    const at = input.now.toISOString();
    await schedule(
      `breaker:${input.detector}:${at}`,
      new Date(input.now.getTime() + BREAKER_PERIOD_MS).toISOString(),
      { detector: input.detector, period_start: at },
    );
  }
  return outcome;
}

/** The tick (inside the caller's transaction): closes the period, ends storm mode or schedules the next. */
export async function breakerTick(
  db: Db,
  input: { detector: string; now: Date; perHour: number },
  schedule: Schedule,
): Promise<
  | { ended: boolean; periodStart: string; count: number; rate: number }
  | undefined
> {
  const state = await locked(db, input.detector);
  if (!state || state.mode !== "on" || !state.period_start) return undefined;
  const at = input.now.toISOString();
  const elapsed = Math.max(
    60_000,
    input.now.getTime() - Date.parse(state.period_start),
  );
  const rate = Math.round(state.period_count * 3_600_000 / elapsed);
  const ended = rate <= input.perHour;
  const next: BreakerState = ended
    ? {
      detector: state.detector,
      mode: "off",
      bucket_start: new Date(
        Math.floor(input.now.getTime() / 3_600_000) * 3_600_000,
      ).toISOString(),
      bucket_count: 0,
      prev_count: 0,
      period_count: 0,
    }
    : { ...state, period_start: at, period_count: 0 };
  if (!ended) {
    await schedule(
      `breaker:${input.detector}:${at}`,
      new Date(input.now.getTime() + BREAKER_PERIOD_MS).toISOString(),
      { detector: input.detector, period_start: at },
    );
  }
  await writeState(db, next);
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

async function writeState(db: Db, s: BreakerState): Promise<void> {
  await db.unsafe(
    `INSERT INTO storm_breaker (detector, mode, bucket_start, bucket_count, prev_count, on_since, period_start, period_count)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT (detector) DO UPDATE SET mode = excluded.mode, bucket_start = excluded.bucket_start,
      bucket_count = excluded.bucket_count, prev_count = excluded.prev_count, on_since = excluded.on_since,
      period_start = excluded.period_start, period_count = excluded.period_count`,
    [
      s.detector,
      s.mode,
      s.bucket_start,
      s.bucket_count,
      s.prev_count,
      s.on_since ?? null,
      s.period_start ?? null,
      s.period_count,
    ],
  );
}
