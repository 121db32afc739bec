/**
 * The PostgreSQL store's queue side for one instance: inserting alerts (announced to every instance
 * with NOTIFY), claiming due ones with `FOR UPDATE SKIP LOCKED`, putting lapsed leases back, and
 * renewing the leases of the alerts this instance's workers are on, every third of the lease, so a
 * lease lapses only when its instance is gone (or could not record an outcome). The statements are
 * `_alerts.ts` and `_lease.ts`; `postgres.ts` delegates to it.
 *
 * @module
 */
import type { Sql } from "postgres";
import { insertAlert } from "./_alerts.ts";
import { claimDue, renewLeases, requeueLapsed } from "./_lease.ts";
import type { Wake } from "./_wake.ts";
import type {
  AlertRecord,
  NewAlert,
  QuarantinedAlert,
  RequeueOptions,
} from "../store.ts";

/** What the queue needs of its store: the two pools, the wake-up channel, the owner and the clock. */
export interface QueueDeps {
  sql: Sql;
  lazy: Sql;
  wake: Wake;
  owner: string;
  clock: () => Date;
}

/** Inserts, claims and leases of one instance. */
export class PostgresQueue {
  #deps: QueueDeps;
  #leaseMs = 0;
  #renewTimer: ReturnType<typeof setInterval> | undefined;
  /** Alerts claimed here and not yet given an outcome: the leases to renew. */
  #inProgress = new Set<string>();
  #stopped = false;

  constructor(deps: QueueDeps) {
    this.#deps = deps;
  }

  /** Inserts alerts (one transaction for several) and announces the new ones; `idempotent` skips duplicates. */
  async insert(
    alerts: NewAlert[],
    idempotent: boolean,
  ): Promise<{ id: string; duplicate: boolean }[]> {
    if (alerts.length === 0) return [];
    const { sql, wake } = this.#deps;
    const now = this.#deps.clock().toISOString();
    const results = alerts.length === 1
      ? [await insertAlert(sql, alerts[0]!, { now, idempotent })]
      : await sql.begin(async (tx) => {
        const results = [];
        for (const alert of alerts) {
          results.push(await insertAlert(tx, alert, { now, idempotent }));
        }
        return results;
      }) as { id: string; duplicate: boolean }[];
    const fresh = results.filter((r) => !r.duplicate).length;
    if (fresh > 0) wake.announce(fresh);
    return results;
  }

  /** Leases up to `limit` due alerts to this instance, and renews them while it works on them. */
  async claim(
    options: { now?: Date; leaseMs: number; limit: number },
  ): Promise<AlertRecord[]> {
    this.#renewEvery(options.leaseMs);
    const claimed = await claimDue(this.#deps.lazy, {
      now: options.now ?? this.#deps.clock(),
      leaseMs: options.leaseMs,
      limit: options.limit,
      owner: this.#deps.owner,
    });
    for (const record of claimed) this.#inProgress.add(record.id);
    return claimed;
  }

  /** Puts lapsed leases back in the queue; an alert interrupted too often goes in `quarantined`. */
  requeue(
    options: RequeueOptions,
    quarantined: QuarantinedAlert[],
  ): Promise<number> {
    return requeueLapsed(this.#deps.lazy, {
      now: options.now ?? this.#deps.clock(),
      all: options.all,
      quarantineAfter: options.quarantineAfter ?? 3,
    }, quarantined);
  }

  /** The alert got its outcome: its lease needs no renewal. */
  settled(id: string): void {
    this.#inProgress.delete(id);
  }

  /** Stops renewing. */
  stop(): void {
    this.#stopped = true;
    clearInterval(this.#renewTimer);
  }

  /** Starts (or re-times) the renewal of this instance's leases, every third of the lease. */
  #renewEvery(leaseMs: number): void {
    if (leaseMs === this.#leaseMs || this.#stopped) return;
    this.#leaseMs = leaseMs;
    clearInterval(this.#renewTimer);
    this.#renewTimer = setInterval(() => {
      const until = new Date(this.#deps.clock().getTime() + this.#leaseMs);
      const ids = [...this.#inProgress];
      renewLeases(this.#deps.lazy, { owner: this.#deps.owner, until, ids })
        .catch(() => {
          // the database is away: the leases lapse unless it is back in time, and are then re-claimed
        });
    }, Math.max(50, Math.floor(leaseMs / 3)));
    Deno.unrefTimer(this.#renewTimer);
  }
}
