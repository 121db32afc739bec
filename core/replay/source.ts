/**
 * Where replay reads the recorded alerts and operator input from, read-only: a SQLite store file
 * through its read-only reader (no migration, no checkpoint, not a byte written), or any `Store`
 * (PostgreSQL) through the store interface, using only its reads. Alerts are picked by id, or by time
 * in keyset pages on (received_at, id) through `AlertQuery.before`/`before_id`, so alerts that share a
 * `received_at` across a page boundary are neither skipped nor read twice.
 *
 * @module
 */
import { InputError } from "../errors.ts";
import type { StoreReader } from "../store/sqlite/sqlite.ts";
import type { AlertQuery, AlertRecord, Store } from "../store/store.ts";
import type { OperatorInput } from "./_storm.ts";

/** Read-only access to the recorded alerts, silences and acks. */
export interface ReplaySource {
  getAlert(id: string): Promise<AlertRecord | undefined>;
  /** Newest first, as `Store.listAlerts`. */
  listAlerts(query: AlertQuery): Promise<AlertRecord[]>;
  /** Silences and acks as recorded (operator input replay applies as recorded). */
  operatorInput(): Promise<OperatorInput>;
}

/** A SQLite store file's read-only reader as a source. */
export function readerSource(reader: StoreReader): ReplaySource {
  return {
    getAlert: (id) => Promise.resolve(reader.getAlert(id)),
    listAlerts: (query) => Promise.resolve(reader.listAlerts(query)),
    operatorInput: () => Promise.resolve(reader.stormInput()),
  };
}

/** Fingerprints read when looking for acks in a store without a reader (most recently seen first). */
const WINDOWS_READ = 100_000;

/** A store (PostgreSQL) as a source: only its read methods are called. */
export function storeSource(store: Store, now: () => Date): ReplaySource {
  return {
    getAlert: (id) => store.getAlert(id),
    listAlerts: (query) => store.listAlerts(query),
    async operatorInput() {
      const silences = await store.storm.listSilences({
        now: now(),
        all: true,
      });
      const windows = await store.storm.windows({ limit: WINDOWS_READ });
      return {
        silences: silences.reverse(),
        acks: windows.flatMap((w) =>
          w.acked_at !== undefined
            ? [{
              fingerprint: w.fingerprint,
              acked_by: w.acked_by ?? "",
              acked_at: w.acked_at,
            }]
            : []
        ),
      };
    },
  };
}

/** Which alerts to replay: these ids, or those received since `since` ms before `now`. */
export interface Selection {
  ids?: string[];
  since?: number;
  detector?: string;
  /** Statuses worth replaying (went through the pipeline). */
  statuses: Set<string>;
}

const PAGE = 500;

/** The alerts of a selection, in no particular order (replay sorts them). */
export async function selectAlerts(
  source: ReplaySource,
  selection: Selection,
  now: Date,
): Promise<AlertRecord[]> {
  let records: AlertRecord[];
  if (selection.ids) {
    records = [];
    for (const id of selection.ids) {
      const record = await source.getAlert(id);
      if (!record) throw new InputError(`No alert "${id}" in the store`);
      records.push(record);
    }
  } else {
    const cutoff = new Date(now.getTime() - (selection.since ?? 0))
      .toISOString();
    records = [];
    let cursor: { before: string; before_id: string } | undefined;
    for (;;) {
      const page = await source.listAlerts({
        limit: PAGE,
        ...(selection.detector ? { detector: selection.detector } : {}),
        ...cursor,
      });
      const recent = page.filter((r) => r.received_at >= cutoff);
      records.push(...recent);
      if (page.length < PAGE || recent.length < page.length) break;
      const last = page[page.length - 1]!;
      cursor = { before: last.received_at, before_id: last.id };
    }
  }
  return records.filter((r) =>
    selection.statuses.has(r.status) &&
    (selection.detector === undefined || r.detector === selection.detector)
  );
}
