/**
 * `GET /alerts`, the list (the guard in `alerts.ts` has signed the user in). By default one row per
 * storm fingerprint (`Store.listAlertGroups`: grouped in the database), an alert without a fingerprint
 * being its own row; `?fingerprint=<id>` expands one storm into its alerts, and `?view=alerts` lists
 * every alert. Filters (`_alert_filter.ts`) combine and are carried onto the next page; an invalid one
 * is a 400 page naming the parameter.
 *
 * A group's state is what its next alert meets: `acked` (acked, and not quiet for the detector's
 * `ack_quiet` yet), `silenced` (its newest alert was held by a silence still active), `suppressed`
 * (its newest alert was held: inside the realert window, in a group batch, in storm mode) or
 * `notifying`.
 *
 * @module
 */
import type { Context } from "hono";
import type { Runtime } from "../core/pipeline/pipeline.ts";
import {
  type AlertGroup,
  type AlertRecord,
  GROUP_STATES,
  type StateFilter,
} from "../core/store/store.ts";
import {
  FilterError,
  filterQuery,
  type ListFilter,
  type ListRequest,
  parseListQuery,
  REASONS,
  STATUSES,
} from "./_alert_filter.ts";
import { renderMessagePage } from "./pages/ActionPages.tsx";
import {
  type AlertRow,
  type GroupRow,
  type GroupState,
  renderAlertListPage,
} from "./pages/AlertPages.tsx";
import { LEVELS } from "../core/severity.ts";

const PAGE_SIZE = 50;
const DEFAULT_ACK_QUIET_MS = 86_400_000;

/** What the list needs. */
export interface ListDeps {
  runtime: Runtime;
  user: string;
  /** The public URL without a trailing slash. */
  base: string;
  now: number;
}

/** Answers `GET /alerts`. */
export async function alertList(c: Context, deps: ListDeps): Promise<Response> {
  let request: ListRequest;
  try {
    request = parseListQuery(c.req.query(), deps.now);
  } catch (err) {
    if (!(err instanceof FilterError)) throw err;
    return c.html(
      renderMessagePage({ title: "Bad filter", message: err.message }),
      400,
    );
  }
  const { filter } = request;
  const listHref = `${deps.base}/alerts`;
  const store = deps.runtime.store;
  const query = {
    ...(filter.q ? { text: filter.q } : {}),
    ...(filter.detector ? { detector: filter.detector } : {}),
    ...(filter.severity ? { severity: filter.severity } : {}),
    ...(filter.status ? { status: filter.status } : {}),
    ...(filter.reason ? { suppressed_by: filter.reason } : {}),
    ...(filter.silence ? { silence_id: filter.silence } : {}),
    ...(request.after ? { after: request.after } : {}),
    ...(request.until ? { until: request.until } : {}),
  };
  const common = {
    user: deps.user,
    detectors: [...deps.runtime.config.detectors.keys()].sort(),
    statuses: STATUSES,
    severities: [...LEVELS],
    reasons: REASONS,
    filter,
    listHref,
    silencesHref: `${deps.base}/silences`,
  };
  const next = (cursor: Record<string, string>) =>
    `${listHref}?${new URLSearchParams({ ...filterQuery(filter), ...cursor })}`;
  if (filter.fingerprint || filter.view === "alerts") {
    const alerts = await store.listAlerts({
      ...query,
      limit: PAGE_SIZE,
      ...(filter.fingerprint ? { fingerprint: filter.fingerprint } : {}),
      ...(request.before ? { before: request.before } : {}),
      ...(request.before && request.before_id
        ? { before_id: request.before_id }
        : {}),
    });
    const last = alerts[alerts.length - 1];
    const window = filter.fingerprint
      ? await store.storm.window(filter.fingerprint)
      : undefined;
    return c.html(renderAlertListPage({
      ...common,
      rows: alerts.map((a) => alertRow(a, listHref)),
      ...(window
        ? {
          storm: {
            keyFields: keyFields(window.paths, window.values),
            detector: window.detector,
            total: window.total,
            groupsHref: `${listHref}?${new URLSearchParams(
              filterQuery(withoutFingerprint(filter)),
            )}`,
          },
        }
        : {}),
      ...(alerts.length === PAGE_SIZE && last
        ? { nextHref: next({ before: last.received_at, before_id: last.id }) }
        : {}),
    }));
  }
  const groups = await store.listAlertGroups({
    ...query,
    ...(filter.state
      ? { state: stateFilter(deps.runtime, filter.state, deps.now) }
      : {}),
    limit: PAGE_SIZE,
    ...(request.before ? { before: request.before } : {}),
    ...(request.before && request.before_key
      ? { before_key: request.before_key }
      : {}),
  });
  const silences = groups.some((g) => g.latest.suppressed_by === "silence")
    ? new Set(
      (await store.storm.listSilences({ now: new Date(deps.now) })).map((s) =>
        s.id
      ),
    )
    : new Set<string>();
  const last = groups[groups.length - 1];
  return c.html(renderAlertListPage({
    ...common,
    states: GROUP_STATES,
    groups: groups.map((g) =>
      groupRow(g, {
        listHref,
        // A storm's alerts are not filtered by its state: the row had it.
        filter: filterQuery(withoutState(filter)),
        state: stateOf(g, {
          now: deps.now,
          silences,
          ackQuietMs: ackQuietOf(deps.runtime, g.detector),
        }),
      })
    ),
    ...(groups.length === PAGE_SIZE && last
      ? { nextHref: next({ before: last.last_seen_at, before_key: last.key }) }
      : {}),
  }));
}

function withoutState(filter: ListFilter): ListFilter {
  const rest = { ...filter };
  delete rest.state;
  return rest;
}

/** The store's state filter at `now`, with each storm detector's `ack_quiet`. */
function stateFilter(
  runtime: Runtime,
  state: GroupState,
  now: number,
): StateFilter {
  const ackQuietMs: Record<string, number> = {};
  for (const [name, detector] of runtime.config.detectors) {
    const quiet = detector.config.storm?.ack_quiet;
    if (quiet !== undefined) ackQuietMs[name] = quiet;
  }
  return {
    is: state,
    now: new Date(now).toISOString(),
    ackQuietMs,
    defaultAckQuietMs: DEFAULT_ACK_QUIET_MS,
  };
}

function withoutFingerprint(filter: ListFilter): ListFilter {
  const rest = { ...filter };
  delete rest.fingerprint;
  return rest;
}

/** How long a detector's acks last after the fingerprint's last alert (`storm.ack_quiet`). */
export function ackQuietOf(runtime: Runtime, detector: string): number {
  return runtime.config.detectors.get(detector)?.config.storm?.ack_quiet ??
    DEFAULT_ACK_QUIET_MS;
}

/** `src_ip=192.0.2.1, alert.signature_id=2001`. */
function keyFields(paths: string[], values: string[]): string {
  return paths.map((p, i) => `${p}=${values[i] ?? ""}`).join(", ");
}

/** What the group's next alert meets (see the module doc; `alert_groups.ts` has it in SQL). */
export function stateOf(
  group: AlertGroup,
  options: { now: number; silences: Set<string>; ackQuietMs: number },
): GroupState {
  const w = group.window;
  if (
    w?.acked_at &&
    options.now - Date.parse(w.last_seen_at) < options.ackQuietMs
  ) return "acked";
  const latest = group.latest;
  if (latest.status !== "suppressed") return "notifying";
  if (latest.suppressed_by === "silence") {
    return latest.silence_id && options.silences.has(latest.silence_id)
      ? "silenced"
      : "notifying";
  }
  if (latest.suppressed_by === "realert" || latest.suppressed_by === "ack") {
    return w && Date.parse(w.window_end) > options.now
      ? "suppressed"
      : "notifying";
  }
  return "suppressed";
}

function groupRow(
  g: AlertGroup,
  options: {
    listHref: string;
    filter: Record<string, string>;
    state: GroupState;
  },
): GroupRow {
  const shown = g.notified ?? g.latest;
  const alertHref = (id: string) =>
    `${options.listHref}/${encodeURIComponent(id)}`;
  const keys = g.window ? keyFields(g.window.paths, g.window.values) : "";
  return {
    key: g.key,
    href: g.fingerprint
      ? `${options.listHref}?${new URLSearchParams({
        ...options.filter,
        fingerprint: g.fingerprint,
      })}`
      : alertHref(g.latest.id),
    count: g.count,
    ...(g.window && g.window.total !== g.count
      ? { total: g.window.total }
      : {}),
    firstSeen: g.first_seen_at,
    lastSeen: g.last_seen_at,
    detector: g.detector,
    ...(shown.severity ?? g.latest.severity
      ? { severity: (shown.severity ?? g.latest.severity)! }
      : {}),
    subject: shown.subject || keys || g.latest.id,
    keyFields: shown.subject ? keys : "",
    ...(!shown.subject && !keys
      ? {
        note: shown.status === "suppressed"
          ? "held before it was rendered: no subject"
          : "not rendered yet",
      }
      : {}),
    state: options.state,
    status: shown.status,
    ...(g.latest.suppressed_by ? { reason: g.latest.suppressed_by } : {}),
    ...(g.notified ? { notifiedHref: alertHref(g.notified.id) } : {}),
    ...(g.window?.acked_by ? { ackedBy: g.window.acked_by } : {}),
    jiraKeys: shown.jira_keys,
  };
}

function alertRow(a: AlertRecord, listHref: string): AlertRow {
  return {
    id: a.id,
    href: `${listHref}/${encodeURIComponent(a.id)}`,
    receivedAt: a.received_at,
    detector: a.detector,
    subject: a.subject ?? "",
    status: a.status,
    ...(a.severity ? { severity: a.severity } : {}),
    jiraKeys: a.jira_keys ?? [],
    ...(a.suppressed_by ? { suppressedBy: a.suppressed_by } : {}),
    ...(a.notified_id
      ? { notifiedHref: `${listHref}/${encodeURIComponent(a.notified_id)}` }
      : {}),
  };
}
