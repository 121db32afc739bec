/**
 * Storm control on the PostgreSQL store ({@link StormStore}), shared by every instance. A decision is
 * one transaction: it takes a transaction-scoped advisory lock on the fingerprint (so two instances
 * deciding on one fingerprint at the same moment go one after the other, a new fingerprint included,
 * which a row lock cannot cover), reads the window, runs the shared flow of `../storm_plan.ts` (the
 * breaker's and group's rows read under their own locks, `_storm_sql.ts`) and writes its plan. Timers are rows claimed with `FOR UPDATE SKIP LOCKED` and a lease,
 * by any instance (no leader). Counts are `count + 1` in the statement, never read-modify-write.
 *
 * @module
 */
import type { Sql } from "postgres";
import { toAlert, toSilence, toTimer, toWindow } from "../records.ts";
import { insertTimer, lock, readRow, writePlan } from "./_storm_sql.ts";
import {
  driveAsync,
  planBreaker,
  planBreakerTick,
  planDecision,
  planSilenced,
} from "../storm_plan.ts";
import { handedOver } from "../storm_rules.ts";
import { byDue, silenceEndTimer } from "../storm_timers.ts";
import { countsByReason } from "../storm_window.ts";
import type {
  AlertRecord,
  NewSilence,
  Silence,
  StormDecision,
  StormInput,
  StormStore,
  StormTimer,
  StormWindow,
  SuppressedBy,
} from "../store.ts";

/** {@link StormStore} on the PostgreSQL store's pool; `call` is the store's error bookkeeping. */
export class PostgresStorm implements StormStore {
  #sql: Sql;
  #call: <T>(fn: () => Promise<T>) => Promise<T>;
  #settled: (alertId: string) => void;

  /** `settled(id)`: the alert got its outcome here (suppressed): its lease needs no renewal. */
  constructor(
    sql: Sql,
    options: {
      call: <T>(fn: () => Promise<T>) => Promise<T>;
      settled: (alertId: string) => void;
    },
  ) {
    this.#sql = sql;
    this.#call = options.call;
    this.#settled = options.settled;
  }

  decide(input: StormInput): Promise<StormDecision> {
    return this.#call(() =>
      this.#sql.begin(async (tx) => {
        await lock(tx, `storm:${input.fingerprint}`);
        const [found] = await tx.unsafe(
          "SELECT * FROM storm_windows WHERE fingerprint = $1",
          [input.fingerprint],
        );
        const plan = await driveAsync(
          planDecision(found ? toWindow(found) : undefined, input),
          (what) => readRow(tx, what),
        );
        if (plan.alert?.suppressed) this.#settled(input.alertId);
        return await writePlan(tx, plan, input.now);
      }) as Promise<StormDecision>
    );
  }

  breaker(
    input: { alertId: string; detector: string; now: Date; perHour: number },
  ): Promise<{ held: boolean; notice?: "on"; rate: number }> {
    return this.#call(() =>
      this.#sql.begin(async (tx) =>
        await writePlan(
          tx,
          await driveAsync(planBreaker(input), (what) => readRow(tx, what)),
          input.now,
        )
      ) as Promise<{ held: boolean; notice?: "on"; rate: number }>
    );
  }

  flushGroup(
    groupKey: string,
    options: { now: Date; messageId: string },
  ): Promise<AlertRecord[]> {
    return this.#call(() =>
      this.#sql.begin(async (tx) => {
        await lock(tx, `group:${groupKey}`);
        // The batch waiting, and the one handed to this email before (its send failed: run again).
        const rows = (await tx.unsafe(
          `SELECT * FROM alerts WHERE group_key = $1 AND status = 'suppressed' AND suppressed_by = 'group'
          AND (message_id IS NULL OR message_id = $2) ORDER BY received_at, id FOR UPDATE`,
          [groupKey, options.messageId],
        )).map(toAlert);
        const at = options.now.toISOString();
        if (rows.length > 0) {
          await tx.unsafe(
            `UPDATE alerts SET notified_id = CASE WHEN id = $1 THEN NULL ELSE $1 END, message_id = $2,
            updated_at = $3 WHERE group_key = $4 AND status = 'suppressed' AND suppressed_by = 'group'
            AND (message_id IS NULL OR message_id = $2)`,
            [rows[0]!.id, options.messageId, at, groupKey],
          );
        }
        await tx.unsafe(
          "UPDATE storm_groups SET flush_at = NULL, last_sent_at = $1 WHERE group_key = $2",
          [at, groupKey],
        );
        return handedOver(rows, options.messageId);
      }) as Promise<AlertRecord[]>
    );
  }

  breakerTick(
    input: { detector: string; now: Date; perHour: number },
  ): Promise<
    | { ended: boolean; periodStart: string; count: number; rate: number }
    | undefined
  > {
    return this.#call(() =>
      this.#sql.begin(async (tx) =>
        await writePlan(
          tx,
          await driveAsync(planBreakerTick(input), (what) => readRow(tx, what)),
          input.now,
        )
      ) as Promise<
        | { ended: boolean; periodStart: string; count: number; rate: number }
        | undefined
      >
    );
  }

  silenced(alertId: string, silenceId: string, at: Date): Promise<void> {
    this.#settled(alertId);
    return this.#call(async () => {
      await this.#sql.begin((tx) =>
        writePlan(tx, planSilenced(alertId, silenceId), at)
      );
    });
  }

  window(fingerprint: string): Promise<StormWindow | undefined> {
    return this.#call(async () => {
      const [row] = await this.#sql.unsafe(
        "SELECT * FROM storm_windows WHERE fingerprint = $1",
        [fingerprint],
      );
      return row ? toWindow(row) : undefined;
    });
  }

  windows(
    query: { detector?: string; limit?: number } = {},
  ): Promise<StormWindow[]> {
    return this.#call(async () => {
      const limit = Math.min(query.limit ?? 100, 1000);
      const rows = query.detector === undefined
        ? await this.#sql.unsafe(
          "SELECT * FROM storm_windows ORDER BY last_seen_at DESC LIMIT $1",
          [limit],
        )
        : await this.#sql.unsafe(
          "SELECT * FROM storm_windows WHERE detector = $1 ORDER BY last_seen_at DESC LIMIT $2",
          [query.detector, limit],
        );
      return rows.map(toWindow);
    });
  }

  // Under the fingerprint's lock, as a decision: a decision in progress writes the window it read,
  // so an ack (or unack) committed between its read and its write would be undone.
  ack(fingerprint: string, by: { actor: string; at: Date }): Promise<boolean> {
    return this.#call(() =>
      this.#sql.begin(async (tx) => {
        await lock(tx, `storm:${fingerprint}`);
        return (await tx.unsafe(
          "UPDATE storm_windows SET acked_by = $1, acked_at = $2 WHERE fingerprint = $3",
          [by.actor, by.at.toISOString(), fingerprint],
        )).count > 0;
      }) as Promise<boolean>
    );
  }

  unack(fingerprint: string): Promise<boolean> {
    return this.#call(() =>
      this.#sql.begin(async (tx) => {
        await lock(tx, `storm:${fingerprint}`);
        return (await tx.unsafe(
          "UPDATE storm_windows SET acked_by = NULL, acked_at = NULL WHERE fingerprint = $1 AND acked_at IS NOT NULL",
          [fingerprint],
        )).count > 0;
      }) as Promise<boolean>
    );
  }

  schedule(timer: StormTimer): Promise<void> {
    return this.#call(() => insertTimer(this.#sql, timer));
  }

  claimTimers(
    options: { now: Date; leaseMs: number; limit: number },
  ): Promise<StormTimer[]> {
    return this.#call(async () => {
      const at = options.now.toISOString();
      const lease = new Date(options.now.getTime() + options.leaseMs)
        .toISOString();
      const rows = await this.#sql.unsafe(
        `WITH picked AS (
          SELECT id FROM storm_timers WHERE done_at IS NULL AND due_at <= $1
          AND (lease_until IS NULL OR lease_until <= $1) ORDER BY due_at, id LIMIT $2
          FOR UPDATE SKIP LOCKED)
        UPDATE storm_timers SET lease_until = $3 FROM picked
        WHERE storm_timers.id = picked.id RETURNING storm_timers.*`,
        [at, options.limit, lease],
      );
      return rows.map(toTimer).sort(byDue);
    });
  }

  finishTimer(id: string, at: Date): Promise<void> {
    return this.#call(async () => {
      await this.#sql.unsafe(
        "UPDATE storm_timers SET done_at = $1 WHERE id = $2",
        [at.toISOString(), id],
      );
    });
  }

  addSilence(silence: NewSilence, at: Date): Promise<Silence> {
    return this.#call(() =>
      this.#sql.begin(async (tx) => {
        const [row] = await tx.unsafe(
          `INSERT INTO silences (id, detector, match, fingerprint, starts_at, ends_at, created_by, comment, created_at)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *`,
          [
            silence.id,
            silence.detector,
            silence.match ?? null,
            silence.fingerprint ?? null,
            silence.starts_at,
            silence.ends_at,
            silence.created_by,
            silence.comment,
            at.toISOString(),
          ],
        );
        await insertTimer(tx, silenceEndTimer(silence));
        return toSilence(row!);
      }) as Promise<Silence>
    );
  }

  getSilence(id: string): Promise<Silence | undefined> {
    return this.#call(async () => {
      const [row] = await this.#sql.unsafe(
        "SELECT * FROM silences WHERE id = $1",
        [id],
      );
      return row ? toSilence(row) : undefined;
    });
  }

  listSilences(options: { now: Date; all?: boolean }): Promise<Silence[]> {
    return this.#call(async () => {
      const rows = options.all
        ? await this.#sql.unsafe(
          "SELECT * FROM silences ORDER BY created_at DESC, id DESC LIMIT 500",
        )
        : await this.#sql.unsafe(
          "SELECT * FROM silences WHERE starts_at <= $1 AND ends_at > $1 ORDER BY ends_at, id",
          [options.now.toISOString()],
        );
      return rows.map(toSilence);
    });
  }

  expireSilence(id: string, now: Date): Promise<boolean> {
    return this.#call(() =>
      this.#sql.begin(async (tx) => {
        const at = now.toISOString();
        const changed = (await tx.unsafe(
          "UPDATE silences SET ends_at = $1, expired_at = $1 WHERE id = $2 AND ends_at > $1",
          [at, id],
        )).count;
        if (changed > 0) {
          await tx.unsafe(
            "UPDATE storm_timers SET due_at = $1 WHERE id = $2 AND done_at IS NULL",
            [at, `silence_end:${id}`],
          );
        }
        return changed > 0;
      }) as Promise<boolean>
    );
  }

  suppressedCounts(
    query: { notified_id?: string; silence_id?: string },
  ): Promise<Partial<Record<SuppressedBy, number>>> {
    return this.#call(async () => {
      const [column, value] = query.silence_id !== undefined
        ? ["silence_id", query.silence_id]
        : ["notified_id", query.notified_id ?? ""];
      const rows = await this.#sql.unsafe(
        `SELECT suppressed_by, count(*) AS n FROM alerts WHERE ${column} = $1 AND status = 'suppressed'
        GROUP BY suppressed_by`,
        [value],
      );
      return countsByReason(rows);
    });
  }
}
