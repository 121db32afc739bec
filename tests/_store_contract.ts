/**
 * The store contract as tests, one list run against every backend: `core/store/sqlite/sqlite_test.ts`
 * registers each case against a SQLite file, `core/store/postgres/postgres_test.ts` against a fresh
 * database on a throwaway PostgreSQL server. A case gets a store whose clock it moves by hand, and
 * `openOther()` for a second store (another instance) on the same database. A store method added to
 * `core/store/store.ts` gets its cases here (one contract, two backends).
 *
 * @module
 */
import { ACKS_CASES } from "./_store_contract_acks.ts";
import { ALERTS_CASES } from "./_store_contract_alerts.ts";
import { DELIVERIES_CASES } from "./_store_contract_deliveries.ts";
import { GROUPS_CASES } from "./_store_contract_groups.ts";
import { QUEUE_CASES } from "./_store_contract_queue.ts";
import { REDELIVER_CASES } from "./_store_contract_redeliver.ts";
import { RUNS_CASES } from "./_store_contract_runs.ts";
import { STATES_CASES } from "./_store_contract_states.ts";
import type { ContractCase } from "./_store_fixtures.ts";

export {
  alert,
  type ContractCase,
  type ContractContext,
  insertQueue,
  manualClock,
  run,
} from "./_store_fixtures.ts";

/** The cases every store passes. */
export const STORE_CONTRACT: ContractCase[] = [
  ...ALERTS_CASES,
  ...GROUPS_CASES,
  ...STATES_CASES,
  ...ACKS_CASES,
  ...QUEUE_CASES,
  ...RUNS_CASES,
  ...DELIVERIES_CASES,
  ...REDELIVER_CASES,
];
