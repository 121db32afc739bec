/**
 * Storm control on the SQLite store ({@link StormStore}): each decision is one write transaction of
 * the group commit (read the window, apply `decideWindow`, write the window, the alert and the timer),
 * so concurrent alerts of one fingerprint, in this process or another on the same file, are decided
 * one after the other. Timers are rows claimed with a lease, like queue items.
 *
 * @module
 */
import type { StatementSync } from "node:sqlite";
import { toAlert, toSilence, toTimer, toWindow } from "./_schema.ts";
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

/** What the storm part needs of its store: the group commit's write and transaction, and statements. */
export interface StormDeps {
  write<T>(
    fn: () => T,
    options?: { single?: boolean; durable?: boolean },
  ): Promise<T>;
  transaction<T>(fn: () => T): T;
  sql(sql: string): StatementSync;
}

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
      const row = found ? toWindow(found) : undefined;
      let { decision, window } = decideWindow(row, input);
      if (decision.action === "notify" && input.breaker) {
        const breaker = applyBreaker(sql, {
          detector: input.detector,
          now: input.now,
          perHour: input.breaker.perHour,
        }, (id, due, ref) => schedule(sql, id, due, ref));
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
        const found = sql("SELECT * FROM storm_groups WHERE group_key = ?").get(
          input.group.key,
        );
        const step = groupStep(found ? toGroup(found) : undefined, {
          detector: input.detector,
          now: input.now,
          group: input.group,
        });
        writeGroup(sql, step.group);
        if (step.schedule) {
          insertTimer(sql, {
            id: `group:${input.group.key}:${step.schedule}`,
            kind: "group",
            due_at: step.schedule,
            ref: { group_key: input.group.key, detector: input.detector },
          });
        }
        if (step.join) {
          // The window opens (its repeats are counted against this alert), the email is the batch's.
          groupKey = input.group.key;
          decision = {
            action: "suppress",
            reason: "group",
            groupKey: input.group.key,
          };
        }
      }
      writeWindow(sql, window);
      const at = input.now.toISOString();
      if (decision.action === "suppress") {
        sql(
          `UPDATE alerts SET status = 'suppressed', fingerprint = ?, suppressed_by = ?, notified_id = ?,
          silence_id = ?, group_key = ?, lease_until = NULL, updated_at = ? WHERE id = ?`,
        ).run(
          input.fingerprint,
          decision.reason,
          decision.notifiedId ?? null,
          decision.silenceId ?? null,
          groupKey ?? null,
          at,
          input.alertId,
        );
        if (groupKey && input.policy.digest) {
          insertTimer(sql, {
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
          sql("UPDATE silences SET suppressed = suppressed + 1 WHERE id = ?")
            .run(decision.silenceId);
        }
      } else {
        sql("UPDATE alerts SET fingerprint = ? WHERE id = ?").run(
          input.fingerprint,
          input.alertId,
        );
        // A resolve closes the window: no digest to send for it.
        if (input.policy.digest && !decision.resolve) {
          insertTimer(sql, {
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
    });
  }

  silenced(alertId: string, silenceId: string, at: Date): Promise<void> {
    const { sql } = this.#deps;
    return this.#deps.write(() => {
      sql(
        `UPDATE alerts SET status = 'suppressed', suppressed_by = 'silence', silence_id = ?,
        lease_until = NULL, updated_at = ? WHERE id = ?`,
      ).run(silenceId, at.toISOString(), alertId);
      sql("UPDATE silences SET suppressed = suppressed + 1 WHERE id = ?").run(
        silenceId,
      );
    });
  }

  breaker(
    input: { alertId: string; detector: string; now: Date; perHour: number },
  ): Promise<{ held: boolean; notice?: "on"; rate: number }> {
    const { sql } = this.#deps;
    return this.#deps.write(() => {
      const outcome = applyBreaker(
        sql,
        input,
        (id, due, ref) => schedule(sql, id, due, ref),
      );
      if (outcome.held) {
        sql(
          `UPDATE alerts SET status = 'suppressed', suppressed_by = 'breaker', lease_until = NULL,
          updated_at = ? WHERE id = ?`,
        ).run(input.now.toISOString(), input.alertId);
      }
      return {
        held: outcome.held,
        rate: outcome.rate,
        ...(outcome.notice ? { notice: outcome.notice } : {}),
      };
    });
  }

  flushGroup(
    groupKey: string,
    options: { now: Date; messageId: string },
  ): Promise<AlertRecord[]> {
    const { sql } = this.#deps;
    return this.#deps.write(() => {
      const rows = sql(
        `SELECT * FROM alerts WHERE group_key = ? AND status = 'suppressed' AND suppressed_by = 'group'
        AND message_id IS NULL ORDER BY received_at, id`,
      ).all(groupKey).map(toAlert);
      const at = options.now.toISOString();
      if (rows.length > 0) {
        // The batch's first alert leads it: the others name it as the alert whose email covers them.
        sql(
          `UPDATE alerts SET notified_id = CASE WHEN id = ?1 THEN NULL ELSE ?1 END, message_id = ?2,
          updated_at = ?3 WHERE group_key = ?4 AND status = 'suppressed' AND suppressed_by = 'group'
          AND message_id IS NULL`,
        ).run(rows[0]!.id, options.messageId, at, groupKey);
      }
      sql(
        "UPDATE storm_groups SET flush_at = NULL, last_sent_at = ? WHERE group_key = ?",
      ).run(at, groupKey);
      return rows.map((r, i) => ({
        ...r,
        ...(i > 0 ? { notified_id: rows[0]!.id } : {}),
        message_id: options.messageId,
      }));
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
      breakerTick(sql, input, (id, due, ref) => schedule(sql, id, due, ref))
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
      ).all({ lease, at, limit: options.limit }).map(toTimer).sort((a, b) =>
        a.due_at < b.due_at ? -1 : a.due_at > b.due_at ? 1 : 0
      );
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
      insertTimer(sql, {
        id: `silence_end:${silence.id}`,
        kind: "silence_end",
        due_at: silence.ends_at,
        ref: { silence_id: silence.id },
      });
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
      const counts: Partial<Record<SuppressedBy, number>> = {};
      for (const row of rows) {
        counts[row.suppressed_by as SuppressedBy] = Number(row.n);
      }
      return counts;
    });
  }
}

/** Writes a fingerprint's window (insert or replace). */
function writeWindow(
  sql: (sql: string) => StatementSync,
  w: StormWindow,
): void {
  sql(
    `INSERT INTO storm_windows (fingerprint, detector, definition, paths, fp_values, notified_id, notified_at,
      window_ms, window_end, since_count, total, first_seen_at, last_seen_at, acked_by, acked_at, resolved_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (fingerprint) DO UPDATE SET notified_id = excluded.notified_id,
      notified_at = excluded.notified_at, window_ms = excluded.window_ms, window_end = excluded.window_end,
      since_count = excluded.since_count, total = excluded.total, last_seen_at = excluded.last_seen_at,
      acked_by = excluded.acked_by, acked_at = excluded.acked_at, resolved_at = excluded.resolved_at`,
  ).run(
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
  );
}

function insertTimer(
  sql: (sql: string) => StatementSync,
  timer: StormTimer,
): void {
  sql(
    `INSERT INTO storm_timers (id, kind, due_at, ref) VALUES (?, ?, ?, ?)
    ON CONFLICT (id) DO NOTHING`,
  ).run(timer.id, timer.kind, timer.due_at, JSON.stringify(timer.ref));
}

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

function writeGroup(sql: (sql: string) => StatementSync, g: StormGroup): void {
  sql(
    `INSERT INTO storm_groups (group_key, detector, paths, fp_values, last_sent_at, flush_at)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (group_key) DO UPDATE SET last_sent_at = excluded.last_sent_at,
      flush_at = excluded.flush_at`,
  ).run(
    g.group_key,
    g.detector,
    JSON.stringify(g.paths),
    JSON.stringify(g.values),
    g.last_sent_at ?? null,
    g.flush_at ?? null,
  );
}

function schedule(
  sql: (sql: string) => StatementSync,
  id: string,
  due: string,
  ref: Record<string, string>,
): void {
  insertTimer(sql, { id, kind: "breaker", due_at: due, ref });
}

/** Runs synchronous work as a promise, so a throw becomes a rejection. */
function settle<T>(fn: () => T): Promise<T> {
  return new Promise((resolve) => resolve(fn()));
}
