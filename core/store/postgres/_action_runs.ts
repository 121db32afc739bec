/**
 * The action-run statements of the PostgreSQL store. Consuming a nonce and recording its run are one
 * INSERT … ON CONFLICT DO NOTHING in one transaction: of two instances given the same link at the
 * same moment, the unique key lets exactly one insert, and the other reads the winner's run.
 *
 * @module
 */
import type { Sql } from "postgres";
import { stringifyJson } from "../../json.ts";
import { actionRunParams, toActionRun, toIso } from "../records.ts";
import type { ActionRun } from "../store.ts";

const FOREIGN_KEY_VIOLATION = "23503";

/** Records `run` (owned by instance `owner`) unless its nonce is used; the stored run, and whether it is new. */
export async function insertActionRun(
  sql: Sql,
  run: ActionRun,
  options: { owner: string },
): Promise<{ run: ActionRun; created: boolean }> {
  try {
    return await sql.begin(async (tx) => {
      const inserted = await tx.unsafe(
        `INSERT INTO action_runs (nonce, alert_id, button, actor, actor_source, client_ip, user_agent,
          started_at, finished_at, status, steps, owner) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        ON CONFLICT (nonce) DO NOTHING RETURNING *`,
        [...actionRunParams(run), options.owner],
      );
      if (inserted.length === 1) {
        return { run: toActionRun(inserted[0]!), created: true };
      }
      const [row] = await tx
        .unsafe("SELECT * FROM action_runs WHERE nonce = $1", [run.nonce]);
      return { run: toActionRun(row!), created: false };
    }) as { run: ActionRun; created: boolean };
  } catch (err) {
    if ((err as { code?: unknown }).code !== FOREIGN_KEY_VIOLATION) throw err;
    throw new Error(
      `Cannot consume nonce for alert "${run.alert_id}": no such alert`,
      { cause: err },
    );
  }
}

/** Applies `patch` to the run of `nonce`; throws when there is no such run. */
export async function updateActionRun(
  sql: Sql,
  nonce: string,
  patch: Partial<Pick<ActionRun, "finished_at" | "status" | "steps">>,
): Promise<void> {
  const params: (string | null)[] = [nonce];
  const sets: string[] = [];
  if ("finished_at" in patch) {
    sets.push(`finished_at = $${
      params.push(
        patch.finished_at === undefined
          ? null
          : toIso(patch.finished_at, "finished_at"),
      )
    }`);
  }
  if (patch.status !== undefined) {
    sets.push(`status = $${params.push(patch.status)}`);
  }
  if (patch.steps !== undefined) {
    sets.push(`steps = $${params.push(stringifyJson(patch.steps))}`);
  }
  const result = await sql.unsafe(
    `UPDATE action_runs SET ${
      sets.length > 0 ? sets.join(", ") : "nonce = nonce"
    } WHERE nonce = $1`,
    params,
  );
  if (result.count === 0) {
    throw new Error(`Cannot finish action run "${nonce}": no such run`);
  }
}

/**
 * The runs of alert `alertId`, oldest first. A run still "running" whose instance is gone (not
 * `owner`, and not seen since `aliveSince`) reads as "unknown": nobody is finishing it.
 */
export async function selectActionRuns(
  sql: Sql,
  alertId: string,
  options: { owner: string; aliveSince: string },
): Promise<ActionRun[]> {
  const rows = await sql.unsafe(
    `SELECT r.*, (r.status = 'running' AND r.owner IS DISTINCT FROM $2
      AND (i.seen_at IS NULL OR i.seen_at < $3)) AS orphaned
    FROM action_runs r LEFT JOIN instances i ON i.owner = r.owner
    WHERE r.alert_id = $1 ORDER BY r.started_at, r.seq`,
    [alertId, options.owner, options.aliveSince],
  );
  return rows.map((row) => {
    const run = toActionRun(row);
    if (row.orphaned) run.status = "unknown";
    return run;
  });
}

/** Records that instance `owner` is alive at `at` (its heartbeat). */
export async function heartbeat(
  sql: Sql,
  options: { owner: string; at: string },
): Promise<void> {
  await sql.unsafe(
    `INSERT INTO instances (owner, started_at, seen_at) VALUES ($1, $2, $2)
    ON CONFLICT (owner) DO UPDATE SET seen_at = excluded.seen_at`,
    [options.owner, options.at],
  );
}
