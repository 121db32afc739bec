/**
 * Pieces of the alert list page: the detector and status filter form, and the table of alerts.
 *
 * @module
 */
import type { JSX } from "preact";
import { formatTime } from "../../emails/AlertEmail.tsx";
import { Badge, SeverityBadge } from "./Page.tsx";

/** One row of the alert list. */
export interface AlertRow {
  id: string;
  /** Absolute link to the alert page. */
  href: string;
  receivedAt: string;
  detector: string;
  subject: string;
  status: string;
  severity?: string;
  jiraKeys: string[];
  /** Storm control: why it was not mailed, and the alert whose email covers it. */
  suppressedBy?: string;
  notifiedHref?: string;
}

/** Everything the alert list shows. */
export interface AlertListModel {
  /** Who is looking. */
  user: string;
  rows: AlertRow[];
  /** Detector names for the filter. */
  detectors: string[];
  /** Status names for the filter. */
  statuses: string[];
  filter: { detector?: string; status?: string; q?: string };
  /** Absolute URL of the list (the filter form's action). */
  listHref: string;
  /** Link to the next, older page. */
  nextHref?: string;
}

/** The GET form that filters the list by detector and status. */
export function AlertFilter(
  { model }: { model: AlertListModel },
): JSX.Element {
  return (
    <form
      method="get"
      action={model.listHref}
      style="display:flex;gap:12px;align-items:flex-end;flex-wrap:wrap;"
    >
      <div>
        <label for="detector">Detector</label>
        <select id="detector" name="detector">
          <option value="">All</option>
          {model.detectors.map((d) => (
            <option
              key={d}
              value={d}
              selected={d === model.filter.detector}
            >
              {d}
            </option>
          ))}
        </select>
      </div>
      <div>
        <label for="q">Search</label>
        <input
          type="text"
          id="q"
          name="q"
          value={model.filter.q ?? ""}
          placeholder="any value: an IP, a host"
        />
      </div>
      <div>
        <label for="status">Status</label>
        <select id="status" name="status">
          <option value="">All</option>
          {model.statuses.map((s) => (
            <option key={s} value={s} selected={s === model.filter.status}>
              {s}
            </option>
          ))}
        </select>
      </div>
      <button type="submit" style="background:#2b6cb0;color:#fff;">
        Filter
      </button>
    </form>
  );
}

/** The alerts as a table, or a note when none match. */
export function AlertTable({ rows }: { rows: AlertRow[] }): JSX.Element {
  return rows.length === 0
    ? <p class="muted" style="margin:0;">No alerts match.</p>
    : (
      <table>
        <tr>
          <th>Received</th>
          <th>Detector</th>
          <th>Severity</th>
          <th>Subject</th>
          <th>Status</th>
          <th>Jira</th>
        </tr>
        {rows.map((row) => (
          <tr key={row.id}>
            <td style="white-space:nowrap;">
              {formatTime(row.receivedAt)}
            </td>
            <td>{row.detector}</td>
            <td>
              {row.severity ? <SeverityBadge level={row.severity} /> : null}
            </td>
            <td>
              <a href={row.href}>{row.subject || row.id}</a>
            </td>
            <td>
              <Badge status={row.status} />
              {row.suppressedBy
                ? (
                  <span class="muted">
                    {" "}
                    {row.suppressedBy}
                    {row.notifiedHref
                      ? (
                        <>
                          {" · "}
                          <a href={row.notifiedHref}>mailed as</a>
                        </>
                      )
                      : null}
                  </span>
                )
                : null}
            </td>
            <td>{row.jiraKeys.join(", ")}</td>
          </tr>
        ))}
      </table>
    );
}
