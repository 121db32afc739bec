/**
 * Storm control on the PostgreSQL store ({@link StormStore}), shared by every instance. A decision is
 * one transaction: it takes a transaction-scoped advisory lock on the fingerprint (so two instances
 * deciding on one fingerprint at the same moment go one after the other, a new fingerprint included,
 * which a row lock cannot cover), reads the window, applies `decideWindow`, and upserts the window,
 * the alert and the digest timer. Timers are rows claimed with `FOR UPDATE SKIP LOCKED` and a lease,
 * by any instance (no leader). Counts are `count + 1` in the statement, never read-modify-write.
 *
 * @module
 */
import type { Sql, TransactionSql } from "postgres";
import { toAlert, toSilence, toTimer, toWindow } from "../records.ts";
import { applyBreaker, breakerTick } from "./_storm_breaker.ts";
import {
  type AlertRecord,
  decideWindow,
  groupStep,
  heldWindow,
  type NewSilence,
  type Silence,
  type StormDecision,
  type StormGroup,
  type StormInput,
  type StormStore,
  type StormTimer,
  type StormWindow,
  type SuppressedBy,
} from "../store.ts";

type Db = Sql | TransactionSql;

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
        await tx.unsafe(
          "SELECT pg_advisory_xact_lock(hashtextextended($1, 11))",
          [
            `storm:${input.fingerprint}`,
          ],
        );
        const [found] = await tx.unsafe(
          "SELECT * FROM storm_windows WHERE fingerprint = $1",
          [input.fingerprint],
        );
        const row = found ? toWindow(found) : undefined;
        let { decision, window } = decideWindow(row, input);
        if (decision.action === "notify" && input.breaker) {
          const breaker = await applyBreaker(tx, {
            detector: input.detector,
            now: input.now,
            perHour: input.breaker.perHour,
          }, (id, due, ref) => scheduleBreaker(tx, id, due, ref));
          if (breaker.held) {
            // Storm mode: no email, so no window opens; the alert waits for the 15-minute digest.
            decision = {
              action: "suppress",
              reason: "breaker",
              rate: breaker.rate,
              ...(breaker.notice ? { notice: breaker.notice } : {}),
            };
            window = heldWindow(row, input);
          }
        }
        let groupKey: string | undefined;
        if (decision.action === "notify" && !decision.resolve && input.group) {
          await tx.unsafe(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 11))",
            [`group:${input.group.key}`],
          );
          const [found] = await tx.unsafe(
            "SELECT * FROM storm_groups WHERE group_key = $1",
            [input.group.key],
          );
          const step = groupStep(found ? toGroup(found) : undefined, {
            detector: input.detector,
            now: input.now,
            group: input.group,
          });
          await writeGroup(tx, step.group);
          if (step.schedule) {
            await insertTimer(tx, {
              id: `group:${input.group.key}:${step.schedule}`,
              kind: "group",
              due_at: step.schedule,
              ref: { group_key: input.group.key, detector: input.detector },
            });
          }
          if (step.join) {
            groupKey = input.group.key;
            decision = {
              action: "suppress",
              reason: "group",
              groupKey: input.group.key,
            };
          }
        }
        await writeWindow(tx, window);
        const at = input.now.toISOString();
        if (decision.action === "suppress") {
          this.#settled(input.alertId);
          await tx.unsafe(
            `UPDATE alerts SET status = 'suppressed', fingerprint = $1, suppressed_by = $2, notified_id = $3,
            silence_id = $4, group_key = $5, lease_until = NULL, lease_owner = NULL, updated_at = $6
            WHERE id = $7`,
            [
              input.fingerprint,
              decision.reason,
              decision.notifiedId ?? null,
              decision.silenceId ?? null,
              groupKey ?? null,
              at,
              input.alertId,
            ],
          );
          if (groupKey && input.policy.digest) {
            await insertTimer(tx, {
              id: `window:${input.alertId}`,
              kind: "window",
              due_at: new Date(input.now.getTime() + window.window_ms)
                .toISOString(),
              ref: {
                fingerprint: input.fingerprint,
                alert_id: input.alertId,
                detector: input.detector,
                opened_at: at,
              },
            });
          }
          if (decision.silenceId) {
            await tx.unsafe(
              "UPDATE silences SET suppressed = suppressed + 1 WHERE id = $1",
              [decision.silenceId],
            );
          }
        } else {
          await tx.unsafe("UPDATE alerts SET fingerprint = $1 WHERE id = $2", [
            input.fingerprint,
            input.alertId,
          ]);
          // A resolve closes the window: no digest to send for it.
          if (input.policy.digest && !decision.resolve) {
            await insertTimer(tx, {
              id: `window:${input.alertId}`,
              kind: "window",
              due_at: decision.windowEnd,
              ref: {
                fingerprint: input.fingerprint,
                alert_id: input.alertId,
                detector: input.detector,
                opened_at: at,
              },
            });
          }
        }
        return decision;
      }) as Promise<StormDecision>
    );
  }

  breaker(
    input: { alertId: string; detector: string; now: Date; perHour: number },
  ): Promise<{ held: boolean; notice?: "on"; rate: number }> {
    return this.#call(() =>
      this.#sql.begin(async (tx) => {
        const outcome = await applyBreaker(
          tx,
          input,
          (id, due, ref) => scheduleBreaker(tx, id, due, ref),
        );
        if (outcome.held) {
          await tx.unsafe(
            `UPDATE alerts SET status = 'suppressed', suppressed_by = 'breaker', lease_until = NULL,
            lease_owner = NULL, updated_at = $1 WHERE id = $2`,
            [input.now.toISOString(), input.alertId],
          );
        }
        return {
          held: outcome.held,
          rate: outcome.rate,
          ...(outcome.notice ? { notice: outcome.notice } : {}),
        };
      }) as Promise<{ held: boolean; notice?: "on"; rate: number }>
    );
  }

  flushGroup(
    groupKey: string,
    options: { now: Date; messageId: string },
  ): Promise<AlertRecord[]> {
    return this.#call(() =>
      this.#sql.begin(async (tx) => {
        await tx.unsafe(
          "SELECT pg_advisory_xact_lock(hashtextextended($1, 11))",
          [`group:${groupKey}`],
        );
        const rows = (await tx.unsafe(
          `SELECT * FROM alerts WHERE group_key = $1 AND status = 'suppressed' AND suppressed_by = 'group'
          AND message_id IS NULL ORDER BY received_at, id FOR UPDATE`,
          [groupKey],
        )).map(toAlert);
        const at = options.now.toISOString();
        if (rows.length > 0) {
          await tx.unsafe(
            `UPDATE alerts SET notified_id = CASE WHEN id = $1 THEN NULL ELSE $1 END, message_id = $2,
            updated_at = $3 WHERE group_key = $4 AND status = 'suppressed' AND suppressed_by = 'group'
            AND message_id IS NULL`,
            [rows[0]!.id, options.messageId, at, groupKey],
          );
        }
        await tx.unsafe(
          "UPDATE storm_groups SET flush_at = NULL, last_sent_at = $1 WHERE group_key = $2",
          [at, groupKey],
        );
        return rows.map((r, i) => ({
          ...r,
          ...(i > 0 ? { notified_id: rows[0]!.id } : {}),
          message_id: options.messageId,
        }));
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
      this.#sql.begin((tx) =>
        breakerTick(
          tx,
          input,
          (id, due, ref) => scheduleBreaker(tx, id, due, ref),
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
      await this.#sql.begin(async (tx) => {
        await tx.unsafe(
          `UPDATE alerts SET status = 'suppressed', suppressed_by = 'silence', silence_id = $1,
          lease_until = NULL, lease_owner = NULL, updated_at = $2 WHERE id = $3`,
          [silenceId, at.toISOString(), alertId],
        );
        await tx.unsafe(
          "UPDATE silences SET suppressed = suppressed + 1 WHERE id = $1",
          [silenceId],
        );
      });
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

  ack(fingerprint: string, by: { actor: string; at: Date }): Promise<boolean> {
    return this.#call(async () =>
      (await this.#sql.unsafe(
        "UPDATE storm_windows SET acked_by = $1, acked_at = $2 WHERE fingerprint = $3",
        [by.actor, by.at.toISOString(), fingerprint],
      )).count > 0
    );
  }

  unack(fingerprint: string): Promise<boolean> {
    return this.#call(async () =>
      (await this.#sql.unsafe(
        "UPDATE storm_windows SET acked_by = NULL, acked_at = NULL WHERE fingerprint = $1 AND acked_at IS NOT NULL",
        [fingerprint],
      )).count > 0
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
      return rows.map(toTimer).sort((a, b) =>
        a.due_at < b.due_at
          ? -1
          : a.due_at > b.due_at
          ? 1
          : a.id < b.id
          ? -1
          : 1
      );
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
        await insertTimer(tx, {
          id: `silence_end:${silence.id}`,
          kind: "silence_end",
          due_at: silence.ends_at,
          ref: { silence_id: silence.id },
        });
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
      const counts: Partial<Record<SuppressedBy, number>> = {};
      for (const row of rows) {
        counts[row.suppressed_by as SuppressedBy] = Number(row.n);
      }
      return counts;
    });
  }
}

/** Writes a fingerprint's window (an upsert). */
async function writeWindow(db: Db, w: StormWindow): Promise<void> {
  await db.unsafe(
    `INSERT INTO storm_windows (fingerprint, detector, definition, paths, fp_values, notified_id, notified_at,
      window_ms, window_end, since_count, total, first_seen_at, last_seen_at, acked_by, acked_at, resolved_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
    ON CONFLICT (fingerprint) DO UPDATE SET notified_id = excluded.notified_id,
      notified_at = excluded.notified_at, window_ms = excluded.window_ms, window_end = excluded.window_end,
      since_count = excluded.since_count, total = excluded.total, last_seen_at = excluded.last_seen_at,
      acked_by = excluded.acked_by, acked_at = excluded.acked_at, resolved_at = excluded.resolved_at`,
    [
      w.fingerprint,
      w.detector,
      w.definition,
      JSON.stringify(w.paths),
      JSON.stringify(w.values),
      w.notified_id ?? null,
      w.notified_at ?? null,
      w.window_ms,
      w.window_end,
      w.since_count,
      w.total,
      w.first_seen_at,
      w.last_seen_at,
      w.acked_by ?? null,
      w.acked_at ?? null,
      w.resolved_at ?? null,
    ],
  );
}

/** Schedules a timer unless one with its id exists. */
function toGroup(row: Record<string, unknown>): StormGroup {
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

async function writeGroup(db: Db, g: StormGroup): Promise<void> {
  await db.unsafe(
    `INSERT INTO storm_groups (group_key, detector, paths, fp_values, last_sent_at, flush_at)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (group_key) DO UPDATE SET last_sent_at = excluded.last_sent_at,
      flush_at = excluded.flush_at`,
    [
      g.group_key,
      g.detector,
      JSON.stringify(g.paths),
      JSON.stringify(g.values),
      g.last_sent_at ?? null,
      g.flush_at ?? null,
    ],
  );
}

function scheduleBreaker(
  db: Db,
  id: string,
  due: string,
  ref: Record<string, string>,
): Promise<void> {
  return insertTimer(db, { id, kind: "breaker", due_at: due, ref });
}

async function insertTimer(db: Db, timer: StormTimer): Promise<void> {
  await db.unsafe(
    "INSERT INTO storm_timers (id, kind, due_at, ref) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
    [timer.id, timer.kind, timer.due_at, JSON.stringify(timer.ref)],
  );
}
