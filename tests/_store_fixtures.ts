/**
 * What the store contract's cases share (`tests/_store_contract.ts`): the context a case gets, a
 * clock moved by hand, and builders of alerts, action runs and a queue.
 *
 * @module
 */
import type { ActionRun, NewAlert, Store } from "../core/store/store.ts";

/** What a case gets besides the store. */
export interface ContractContext {
  time: ManualClock;
  /** A second store on the same database (closed by the runner). */
  openOther(): Promise<Store>;
}

/** One case of the contract. */
export interface ContractCase {
  name: string;
  fn(store: Store, ctx: ContractContext): Promise<void>;
}

/** A clock tests move by hand. */
export type ManualClock = ReturnType<typeof manualClock>;

/** A unique-key violation, as both backends word it. */
export const UNIQUE_VIOLATION = /UNIQUE|unique constraint/;

/** A clock at `start`, moved by `set`. */
export function manualClock(start = "2030-01-01T00:00:00.000Z") {
  let now = new Date(start);
  return {
    clock: () => now,
    set(iso: string) {
      now = new Date(iso);
    },
  };
}

/** A new alert of detector "ssh_bruteforce". */
export function alert(id: string, extra: Partial<NewAlert> = {}): NewAlert {
  return {
    id,
    detector: "ssh_bruteforce",
    alert: { src_ip: "203.0.113.7", n: 1 },
    ...extra,
  };
}

/** An action run on alert "a1". */
export function run(nonce: string, extra: Partial<ActionRun> = {}): ActionRun {
  return {
    nonce,
    alert_id: "a1",
    button: "Block IP",
    actor: "alice@example.test",
    actor_source: "trusted_header",
    started_at: "2030-01-01T00:00:00.000Z",
    status: "running",
    steps: [],
    ...extra,
  };
}

/**
 * Inserts a queue as the claims see it at 00:00:30: "old" (received 00:00:01) and "new" (00:00:03)
 * queued, "retry_due" (00:00:02) due at 00:00:30, "retry_later" (00:00:00) due at 00:01:00, and
 * "done" delivered; `extra` alerts are inserted before "done".
 */
export async function insertQueue(
  store: Store,
  extra: NewAlert[] = [],
): Promise<void> {
  await store.insertAlerts([
    alert("new", { received_at: "2030-01-01T00:00:03.000Z" }),
    alert("old", { received_at: "2030-01-01T00:00:01.000Z" }),
    alert("retry_later", { received_at: "2030-01-01T00:00:00.000Z" }),
    alert("retry_due", { received_at: "2030-01-01T00:00:02.000Z" }),
    ...extra,
    alert("done", {
      received_at: "2029-01-01T00:00:00.000Z",
      status: "delivered",
    }),
  ]);
  await store.updateAlert("retry_later", {
    status: "retry",
    next_attempt_at: "2030-01-01T00:01:00.000Z",
  });
  await store.updateAlert("retry_due", {
    status: "retry",
    next_attempt_at: "2030-01-01T00:00:30.000Z",
  });
}
