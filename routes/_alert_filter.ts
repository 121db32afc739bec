/**
 * The query string of `GET /alerts`, parsed once at the edge: the filters (`q`, `detector`,
 * `severity`, `status`, `reason` (why it was held), `silence` (held by that silence), `state` (of a
 * storm: notifying, suppressed, silenced, acked; the grouped list only), `since`, `until`), the
 * expansion of one storm (`fingerprint`), the flat view (`view=alerts`) and the keyset cursors
 * (`before` with `before_id` for alerts, `before_key` for groups). An invalid value is an error that names the parameter; `filterQuery` gives the query string
 * that carries the filters onto the next page.
 *
 * `since` and `until` take a duration back from now (`24h`, `30m`, `7d`), or a date and time: ISO 8601
 * with an offset, or the `datetime-local` form `2026-03-02T10:00` (read as UTC, as the pages show time).
 *
 * @module
 */
import { parseDuration } from "../core/duration.ts";
import { LEVELS } from "../core/severity.ts";
import {
  type AlertStatus,
  GROUP_STATES,
  type GroupState,
  type SuppressedBy,
} from "../core/store/store.ts";

/** Why an alert was held, as the reason filter offers it. */
export const REASONS: SuppressedBy[] = [
  "realert",
  "group",
  "silence",
  "ack",
  "breaker",
];

/** Alert statuses the status filter offers. */
export const STATUSES: AlertStatus[] = [
  "queued",
  "processing",
  "retry",
  "delivered",
  "not_sent",
  "failed",
  "suppressed",
];

/** The filters as typed and as the form shows them back. */
export interface ListFilter {
  q?: string;
  detector?: string;
  severity?: string;
  status?: AlertStatus;
  /** Held for this reason (storm control's `suppressed_by`). */
  reason?: SuppressedBy;
  /** Held by this silence (its id). */
  silence?: string;
  /** Groups in this state (the grouped list only). */
  state?: GroupState;
  /** As typed (`24h`, or a date and time), for the form and the next page's link. */
  since?: string;
  until?: string;
  fingerprint?: string;
  /** `alerts`: one row per alert instead of one per fingerprint. */
  view?: "alerts";
}

/** A parsed `/alerts` query. */
export interface ListRequest {
  filter: ListFilter;
  /** `since` and `until` as ISO 8601 times. */
  after?: string;
  until?: string;
  before?: string;
  before_id?: string;
  before_key?: string;
}

/** A query parameter that cannot be used, and why. */
export class FilterError extends Error {
  constructor(readonly param: string, message: string) {
    super(`Invalid "${param}": ${message}`);
    this.name = "FilterError";
  }
}

const KNOWN = new Set([
  "q",
  "detector",
  "severity",
  "status",
  "reason",
  "silence",
  "state",
  "since",
  "until",
  "fingerprint",
  "view",
  "before",
  "before_id",
  "before_key",
]);
const MAX_TEXT = 200;

/** A time as an ISO string: a duration back from `now`, or a date and time. */
function time(param: string, value: string, now: number): string {
  if (/^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)\s*$/.test(value)) {
    return new Date(now - parseDuration(value)).toISOString();
  }
  const local = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/.test(
    value,
  );
  const zoned =
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/
      .test(value);
  const ms = local ? Date.parse(`${value}Z`) : zoned ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) {
    throw new FilterError(
      param,
      `${
        JSON.stringify(value)
      } is neither a duration back from now (24h, 30m, 7d) nor a date and time (2026-03-02T10:00, UTC)`,
    );
  }
  return new Date(ms).toISOString();
}

function oneOf<T extends string>(
  param: string,
  value: string,
  allowed: readonly T[],
): T {
  if (!allowed.includes(value as T)) {
    throw new FilterError(
      param,
      `${JSON.stringify(value)} is not one of ${allowed.join(", ")}`,
    );
  }
  return value as T;
}

/** Parses the query of `/alerts` at `now` (epoch ms); throws a {@link FilterError}. */
export function parseListQuery(
  query: Record<string, string>,
  now: number,
): ListRequest {
  for (const name of Object.keys(query)) {
    if (!KNOWN.has(name)) {
      throw new FilterError(
        name,
        `unknown parameter (known: ${[...KNOWN].join(", ")})`,
      );
    }
  }
  const given = (name: string) => {
    const value = query[name]?.trim();
    if (!value) return undefined;
    if (value.length > MAX_TEXT) {
      throw new FilterError(name, `longer than ${MAX_TEXT} characters`);
    }
    return value;
  };
  const filter: ListFilter = {};
  const out: ListRequest = { filter };
  for (const name of ["q", "detector", "fingerprint", "silence"] as const) {
    const value = given(name);
    if (value !== undefined) filter[name] = value;
  }
  const severity = given("severity");
  if (severity) filter.severity = oneOf("severity", severity, LEVELS);
  const status = given("status");
  if (status) filter.status = oneOf("status", status, STATUSES);
  const reason = given("reason");
  if (reason) filter.reason = oneOf("reason", reason, REASONS);
  const view = given("view");
  if (view) filter.view = oneOf("view", view, ["alerts"] as const);
  const state = given("state");
  if (state) {
    filter.state = oneOf("state", state, GROUP_STATES);
    if (filter.view || filter.fingerprint) {
      throw new FilterError(
        "state",
        `a storm's state filters the grouped list (one row per fingerprint), not ${
          filter.view ? "view=alerts" : "the alerts of one fingerprint"
        }`,
      );
    }
  }
  const since = given("since");
  if (since) {
    out.after = time("since", since, now);
    filter.since = since;
  }
  const until = given("until");
  if (until) {
    out.until = time("until", until, now);
    filter.until = until;
  }
  if (out.after && out.until && out.after > out.until) {
    throw new FilterError("until", `${until} is before since (${since})`);
  }
  const before = given("before");
  if (before) {
    const ms = Date.parse(before);
    if (!/^\d{4}-\d{2}-\d{2}T/.test(before) || Number.isNaN(ms)) {
      throw new FilterError(
        "before",
        `${JSON.stringify(before)} is not an ISO 8601 time`,
      );
    }
    out.before = new Date(ms).toISOString();
    const beforeId = given("before_id");
    if (beforeId) out.before_id = beforeId;
    const beforeKey = given("before_key");
    if (beforeKey) out.before_key = beforeKey;
  }
  return out;
}

/** The filters as query parameters (the next page's link, the expansion of a group). */
export function filterQuery(filter: ListFilter): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(filter)) {
    if (value !== undefined && value !== "") out[name] = value;
  }
  return out;
}
