/**
 * The action-run steps of the SQLite store: consuming an action nonce (recording its run), finishing
 * the run, and listing an alert's runs. They run inside the caller's write (or read); `sql` returns the
 * store's cached statement.
 *
 * @module
 */
import { stringifyJson } from "../../json.ts";
import type { StatementSync } from "node:sqlite";
import { toActionRun, toIso } from "./_schema.ts";
import { actionRunParams } from "../records.ts";
import type { ActionRun } from "../store.ts";

const SQLITE_CONSTRAINT_FOREIGNKEY = 787;

/** Records `run` unless its nonce is already used; returns the stored run and whether it is new. */
export function insertActionRun(
  sql: (sql: string) => StatementSync,
  run: ActionRun,
): { run: ActionRun; created: boolean } {
  let changes: number | bigint;
  try {
    ({ changes } = sql(
      `INSERT INTO action_runs (nonce, alert_id, button, actor, actor_source, client_ip, user_agent,
        started_at, finished_at, status, steps) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (nonce) DO NOTHING`,
    ).run(...actionRunParams(run)));
  } catch (err) {
    if (
      (err as { errcode?: unknown }).errcode !== SQLITE_CONSTRAINT_FOREIGNKEY
    ) throw err;
    throw new Error(
      `Cannot consume nonce for alert "${run.alert_id}": no such alert`,
      { cause: err },
    );
  }
  const row = sql("SELECT * FROM action_runs WHERE nonce = ?").get(run.nonce);
  return { run: toActionRun(row!), created: Number(changes) === 1 };
}

/** Applies `patch` to the run of `nonce`; throws when there is no such run. */
export function updateActionRun(
  sql: (sql: string) => StatementSync,
  nonce: string,
  patch: Partial<Pick<ActionRun, "finished_at" | "status" | "steps">>,
): void {
  const sets: string[] = [];
  const params: Record<string, string | null> = { nonce };
  if ("finished_at" in patch) {
    sets.push("finished_at = :finished_at");
    params.finished_at = patch.finished_at === undefined
      ? null
      : toIso(patch.finished_at, "finished_at");
  }
  if (patch.status !== undefined) {
    sets.push("status = :status");
    params.status = patch.status;
  }
  if (patch.steps !== undefined) {
    sets.push("steps = :steps");
    params.steps = stringifyJson(patch.steps);
  }
  const update = sets.length > 0
    ? `UPDATE action_runs SET ${sets.join(", ")} WHERE nonce = :nonce`
    : "UPDATE action_runs SET nonce = nonce WHERE nonce = :nonce";
  if (Number(sql(update).run(params).changes) === 0) {
    throw new Error(`Cannot finish action run "${nonce}": no such run`);
  }
}

/** The runs of alert `alertId`, oldest first. */
export function selectActionRuns(
  sql: (sql: string) => StatementSync,
  alertId: string,
): ActionRun[] {
  return sql(
    "SELECT * FROM action_runs WHERE alert_id = ? ORDER BY started_at, rowid",
  ).all(alertId).map(toActionRun);
}
