/**
 * The rows of an ingest request: each parsed alert (or each item of a detector's `split` array) with
 * a new id, the request's receive time and its idempotency key (the detector's `id_field` value, else
 * the `Idempotency-Key` header, keyed by position in a batch). Shared by the ingest route and the
 * HTTP threads (`_http_thread.ts`), which build rows off the main thread.
 *
 * @module
 */
import { jsonError, type ParsedBody } from "./http/body.ts";
import { newAlertId, splitAlert } from "../core/pipeline/pipeline.ts";
import { InputError } from "../core/errors.ts";
import { lookup } from "../core/template.ts";
import type { NewAlert } from "../core/store/store.ts";
import type { LoadedDetector } from "../core/config/config.ts";

/** What a valid `Idempotency-Key` header looks like. */
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;

/** The detector settings rows depend on. */
export type RowDetector = Pick<LoadedDetector, "config">;

/** The rows of `parsed`, and how many lack the detector's `id_field`; 400 for a bad `split` item. */
export function alertRows(
  parsed: ParsedBody,
  options: {
    detector: RowDetector;
    name: string;
    key: string | null;
    receivedAt: string;
  },
): { rows: NewAlert[]; missingId: number } {
  const { detector, name, key, receivedAt } = options;
  // `split`: each item of the detector's array is its own alert (a bad element refuses the batch).
  const split = detector.config.split !== undefined;
  const batch = parsed.batch || split;
  const idField = detector.config.id_field;
  const rows: NewAlert[] = [];
  let missingId = 0;
  parsed.alerts.forEach((alert, i) => {
    let items: Record<string, unknown>[];
    try {
      items = split
        ? splitAlert(
          detector as LoadedDetector,
          alert,
          parsed.batch ? `Element ${i}` : "Alert",
        )
        : [alert];
    } catch (err) {
      if (err instanceof InputError) throw jsonError(400, err.message);
      throw err;
    }
    items.forEach((item, j) => {
      const row: NewAlert = {
        id: newAlertId(),
        detector: name,
        alert: item,
        received_at: receivedAt,
      };
      const own = idField === undefined ? undefined : lookup(item, idField);
      if (
        (typeof own === "string" && own !== "") || typeof own === "number" ||
        typeof own === "bigint"
      ) {
        row.idempotency_key = `id:${own}`;
      } else {
        if (idField !== undefined) missingId++;
        if (key !== null) {
          const origin = parsed.batch
            ? (split ? `${i}:${j}` : `${i}`)
            : (split ? `${j}` : "");
          row.idempotency_key = batch ? `key:${key}:${origin}` : `key:${key}`;
        }
      }
      rows.push(row);
    });
  });
  return { rows, missingId };
}
