/**
 * Pieces of the alert list page: the model, and the table of single alerts (a storm expanded with
 * `?fingerprint=`, or the flat `?view=alerts`). Under 640 px the rows stack into cards, each cell
 * labelled (`data-label`, Page.tsx's `.stack`).
 *
 * @module
 */
import type { JSX } from "preact";
import { formatTime } from "../../emails/AlertEmail.tsx";
import { Badge, SeverityBadge } from "./Page.tsx";
import type { FilterModel } from "./_AlertFilter.tsx";
import type { GroupRow } from "./_GroupTable.tsx";

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

/** Everything the alert list shows: groups (the default) or single alerts. */
export interface AlertListModel {
  /** Who is looking. */
  user: string;
  /** One row per storm fingerprint (or alert without one). */
  groups?: GroupRow[];
  /** Single alerts (an expanded storm, or `view=alerts`). */
  rows?: AlertRow[];
  /** The storm a `?fingerprint=` list expands. */
  storm?: {
    keyFields: string;
    detector: string;
    total: number;
    /** Back to the grouped list, filters kept. */
    groupsHref: string;
  };
  /** Names for the filter's choices. */
  detectors: string[];
  statuses: string[];
  severities: string[];
  reasons: string[];
  /** The storm states (the grouped list only: a state is a fingerprint's). */
  states?: readonly string[];
  filter: FilterModel;
  /** Absolute URL of the list (the filter form's action). */
  listHref: string;
  /** Absolute URL of `/silences`. */
  silencesHref: string;
  /** Link to the next, older page (filters kept). */
  nextHref?: string;
}

/** The alerts as a table, or a note when none match. */
export function AlertTable({ rows }: { rows: AlertRow[] }): JSX.Element {
  return rows.length === 0
    ? <p class="muted" style="margin:0;">No alerts match.</p>
    : (
      <table class="stack">
        <tr class="head">
          <th>Received</th>
          <th>Detector</th>
          <th>Severity</th>
          <th>Subject</th>
          <th>Status</th>
          <th>Jira</th>
        </tr>
        {rows.map((row) => (
          <tr key={row.id}>
            <td class="when" data-label="Received">
              {formatTime(row.receivedAt)}
            </td>
            <td data-label="Detector">{row.detector}</td>
            <td data-label="Severity">
              {row.severity ? <SeverityBadge level={row.severity} /> : null}
            </td>
            <td data-label="Subject">
              <a href={row.href}>{row.subject || row.id}</a>
            </td>
            <td data-label="Status">
              <Badge status={row.status} />
              {row.suppressedBy
                ? (
                  <span class="muted">
                    {` ${row.suppressedBy}`}
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
            <td data-label="Jira">{row.jiraKeys.join(", ")}</td>
          </tr>
        ))}
      </table>
    );
}
