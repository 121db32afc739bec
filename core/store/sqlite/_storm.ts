/**
 * Storm control on the SQLite store ({@link StormStore}): each decision is one write transaction of
 * the group commit (read the window, run the shared flow of `../storm_plan.ts` with the reads of
 * `_storm_sql.ts`, write its plan), so concurrent alerts of one fingerprint, in this process or
 * another on the same file, are decided one after the other. Timers are rows claimed with a lease,
 * like queue items.
 *
 * @module
 */
import type { StatementSync } from "node:sqlite";
import { toAlert, toSilence, toTimer, toWindow } from "./_schema.ts";
import { insertTimer, readRow, writePlan } from "./_storm_sql.ts";
import {
  drive,
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

/** What the storm part needs of its store: the group commit's write and transaction, and statements. */
export interface StormDeps {
  write<T>(
    fn: () => T,
    options?: { single?: boolean; durable?: boolean },
  ): Promise<T>;
  transaction<T>(fn: () => T): T;
  sql(sql: string): StatementSync;
}

/**
 * The decision on an alert (`decide`, `breaker`, `silenced`) is bookkeeping, as a claim or an outcome
 * is: committed when it resolves, without waiting for the WAL's fsync. It promises nothing to anyone
 * outside: it survives a crash of the process (the WAL is in the OS page cache), and a power loss can
 * undo only the last decisions, each with its alert's status in the same transaction, so those alerts
 * are claimed and decided again (at worst one more email of a window, with the same Message-ID).
 * Waiting for the fsync cost a 10,000-alert storm ~30% more CPU per alert (0.33–0.37 against
 * 0.21–0.26 ms). What an analyst asked for (an ack, a silence) and the timers stay durable.
 */
const BOOKKEEPING = { durable: false };

/** {@link StormStore} on the SQLite store's connection. */
export class SqliteStorm implements StormStore {
  #deps: StormDeps;

  constructor(deps: StormDeps) {
    this.#deps = deps;
  }

  decide(input: StormInput): Promise<StormDecision> {
    const { sql } = this.#deps;
    return this.#deps.write(() => {
      const found = sql("SELECT * FROM storm_windows WHERE fingerprint = ?")
        .get(input.fingerprint);
      const steps = planDecision(found ? toWindow(found) : undefined, input);
      return writePlan(
        sql,
        drive(steps, (what) => readRow(sql, what)),
        input.now,
      );
    }, BOOKKEEPING);
  }

  silenced(alertId: string, silenceId: string, at: Date): Promise<void> {
    return this.#deps.write(
      () => writePlan(this.#deps.sql, planSilenced(alertId, silenceId), at),
      BOOKKEEPING,
    );
  }

  breaker(
    input: { alertId: string; detector: string; now: Date; perHour: number },
  ): Promise<{ held: boolean; notice?: "on"; rate: number }> {
    const { sql } = this.#deps;
    return this.#deps.write(() =>
      writePlan(
        sql,
        drive(planBreaker(input), (what) => readRow(sql, what)),
        input.now,
      ), BOOKKEEPING);
  }

  flushGroup(
    groupKey: string,
    options: { now: Date; messageId: string },
  ): Promise<AlertRecord[]> {
    const { sql } = this.#deps;
    return this.#deps.write(() => {
      // The batch waiting, and the one handed to this email before (its send failed: run again).
      const rows = sql(
        `SELECT * FROM alerts WHERE group_key = ?1 AND status = 'suppressed' AND suppressed_by = 'group'
        AND (message_id IS NULL OR message_id = ?2) ORDER BY received_at, id`,
      ).all(groupKey, options.messageId).map(toAlert);
      const at = options.now.toISOString();
      if (rows.length > 0) {
        // The batch's first alert leads it: the others name it as the alert whose email covers them.
        sql(
          `UPDATE alerts SET notified_id = CASE WHEN id = ?1 THEN NULL ELSE ?1 END, message_id = ?2,
          updated_at = ?3 WHERE group_key = ?4 AND status = 'suppressed' AND suppressed_by = 'group'
          AND (message_id IS NULL OR message_id = ?2)`,
        ).run(rows[0]!.id, options.messageId, at, groupKey);
      }
      sql(
        "UPDATE storm_groups SET flush_at = NULL, last_sent_at = ? WHERE group_key = ?",
      ).run(at, groupKey);
      return handedOver(rows, options.messageId);
    });
  }

  breakerTick(
    input: { detector: string; now: Date; perHour: number },
  ): Promise<
    | { ended: boolean; periodStart: string; count: number; rate: number }
    | undefined
  > {
    const { sql } = this.#deps;
    return this.#deps.write(() =>
      writePlan(
        sql,
        drive(planBreakerTick(input), (what) => readRow(sql, what)),
        input.now,
      )
    );
  }

  window(fingerprint: string): Promise<StormWindow | undefined> {
    return settle(() => {
      const row = this.#deps.sql(
        "SELECT * FROM storm_windows WHERE fingerprint = ?",
      ).get(fingerprint);
      return row ? toWindow(row) : undefined;
    });
  }

  windows(
    query: { detector?: string; limit?: number } = {},
  ): Promise<StormWindow[]> {
    return settle(() => {
      const limit = Math.min(query.limit ?? 100, 1000);
      const rows = query.detector === undefined
        ? this.#deps.sql(
          "SELECT * FROM storm_windows ORDER BY last_seen_at DESC LIMIT ?",
        ).all(limit)
        : this.#deps.sql(
          "SELECT * FROM storm_windows WHERE detector = ? ORDER BY last_seen_at DESC LIMIT ?",
        ).all(query.detector, limit);
      return rows.map(toWindow);
    });
  }

  ack(fingerprint: string, by: { actor: string; at: Date }): Promise<boolean> {
    return this.#deps.write(() =>
      Number(
        this.#deps.sql(
          "UPDATE storm_windows SET acked_by = ?, acked_at = ? WHERE fingerprint = ?",
        ).run(by.actor, by.at.toISOString(), fingerprint).changes,
      ) > 0, { single: true });
  }

  unack(fingerprint: string): Promise<boolean> {
    return this.#deps.write(() =>
      Number(
        this.#deps.sql(
          "UPDATE storm_windows SET acked_by = NULL, acked_at = NULL WHERE fingerprint = ? AND acked_at IS NOT NULL",
        ).run(fingerprint).changes,
      ) > 0, { single: true });
  }

  schedule(timer: StormTimer): Promise<void> {
    return this.#deps.write(() => insertTimer(this.#deps.sql, timer), {
      single: true,
    });
  }

  claimTimers(
    options: { now: Date; leaseMs: number; limit: number },
  ): Promise<StormTimer[]> {
    const { sql } = this.#deps;
    return this.#deps.write(() => {
      const at = options.now.toISOString();
      const lease = new Date(options.now.getTime() + options.leaseMs)
        .toISOString();
      return sql(
        `UPDATE storm_timers SET lease_until = :lease WHERE id IN (
          SELECT id FROM storm_timers WHERE done_at IS NULL AND due_at <= :at
          AND (lease_until IS NULL OR lease_until <= :at) ORDER BY due_at, id LIMIT :limit
        ) RETURNING *`,
      ).all({ lease, at, limit: options.limit }).map(toTimer).sort(byDue);
    }, { durable: false });
  }

  finishTimer(id: string, at: Date): Promise<void> {
    return this.#deps.write(() => {
      this.#deps.sql("UPDATE storm_timers SET done_at = ? WHERE id = ?").run(
        at.toISOString(),
        id,
      );
    }, { single: true });
  }

  addSilence(silence: NewSilence, at: Date): Promise<Silence> {
    const { sql } = this.#deps;
    return this.#deps.write(() => {
      const row = sql(
        `INSERT INTO silences (id, detector, match, fingerprint, starts_at, ends_at, created_by, comment, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
      ).get(
        silence.id,
        silence.detector,
        silence.match ?? null,
        silence.fingerprint ?? null,
        silence.starts_at,
        silence.ends_at,
        silence.created_by,
        silence.comment,
        at.toISOString(),
      )!;
      insertTimer(sql, silenceEndTimer(silence));
      return toSilence(row);
    });
  }

  getSilence(id: string): Promise<Silence | undefined> {
    return settle(() => {
      const row = this.#deps.sql("SELECT * FROM silences WHERE id = ?").get(id);
      return row ? toSilence(row) : undefined;
    });
  }

  listSilences(options: { now: Date; all?: boolean }): Promise<Silence[]> {
    return settle(() => {
      const rows = options.all
        ? this.#deps.sql(
          "SELECT * FROM silences ORDER BY created_at DESC, id DESC LIMIT 500",
        ).all()
        : this.#deps.sql(
          `SELECT * FROM silences WHERE starts_at <= ?1 AND ends_at > ?1 ORDER BY ends_at, id`,
        ).all(options.now.toISOString());
      return rows.map(toSilence);
    });
  }

  expireSilence(id: string, now: Date): Promise<boolean> {
    const { sql } = this.#deps;
    return this.#deps.write(() => {
      const at = now.toISOString();
      const changed = Number(
        sql(
          "UPDATE silences SET ends_at = ?1, expired_at = ?1 WHERE id = ?2 AND ends_at > ?1",
        ).run(at, id).changes,
      );
      if (changed > 0) {
        sql(
          "UPDATE storm_timers SET due_at = ? WHERE id = ? AND done_at IS NULL",
        ).run(at, `silence_end:${id}`);
      }
      return changed > 0;
    });
  }

  suppressedCounts(
    query: { notified_id?: string; silence_id?: string },
  ): Promise<Partial<Record<SuppressedBy, number>>> {
    return settle(() => {
      const [column, value] = query.silence_id !== undefined
        ? ["silence_id", query.silence_id]
        : ["notified_id", query.notified_id ?? ""];
      const rows = this.#deps.sql(
        `SELECT suppressed_by, count(*) AS n FROM alerts WHERE ${column} = ? AND status = 'suppressed'
        GROUP BY suppressed_by`,
      ).all(value);
      return countsByReason(rows);
    });
  }
}

/** Runs synchronous work as a promise, so a throw becomes a rejection. */
function settle<T>(fn: () => T): Promise<T> {
  return new Promise((resolve) => resolve(fn()));
}
