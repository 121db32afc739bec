/**
 * LISTEN/NOTIFY for the PostgreSQL store: an insert notifies channel `blitz_queued` inside its
 * transaction (so the notification goes out at COMMIT, never for a rolled-back alert), and every
 * instance listening wakes its idle workers. The client re-listens by itself after a reconnect; the
 * workers' polling finds whatever a lost notification would have announced.
 *
 * @module
 */
import type { Sql, TransactionSql } from "postgres";

const CHANNEL = "blitz_queued";

/** The channel's listeners in this process. */
export class Wake {
  #sql: Sql;
  #listeners = new Set<(count: number) => void>();
  #unlisten: (() => Promise<void>) | undefined;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** Starts listening (one dedicated connection). */
  async listen(): Promise<void> {
    const { unlisten } = await this.#sql.listen(CHANNEL, (payload) => {
      const count = Number(payload) || 1;
      for (const listener of this.#listeners) listener(count);
    });
    this.#unlisten = unlisten;
  }

  /** Adds a listener; returns its removal. */
  subscribe(listener: (count: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Notifies the channel inside `tx`, delivered at its COMMIT. */
  async notify(tx: TransactionSql, count: number): Promise<void> {
    await tx`SELECT pg_notify(${CHANNEL}, ${String(count)})`;
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    await this.#unlisten?.().catch(() => {});
  }
}
