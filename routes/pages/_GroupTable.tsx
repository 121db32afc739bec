/**
 * The grouped alert list: one row per storm fingerprint with its count, first and last seen, state
 * (notifying, suppressed, silenced, acked), severity, and the notified alert's subject and key fields;
 * the count and subject open the storm's alerts (`?fingerprint=`). An alert without a fingerprint is
 * a row of one that opens the alert. Under 640 px the rows stack into labelled cards.
 *
 * @module
 */
import type { JSX } from "preact";
import { formatTime } from "../../emails/AlertEmail.tsx";
import type { GroupState } from "../../core/store/store.ts";
import { Badge, SeverityBadge } from "./Page.tsx";

export type { GroupState };

/** One row of the grouped list. */
export interface GroupRow {
  key: string;
  /** The storm's alerts (`?fingerprint=`, filters kept), or the alert page for a row of one. */
  href: string;
  /** Alerts that match the filter. */
  count: number;
  /** Alerts of the fingerprint ever seen, when more than `count`. */
  total?: number;
  firstSeen: string;
  lastSeen: string;
  detector: string;
  severity?: string;
  /** The notified alert's subject (else the key fields, else the id). */
  subject: string;
  /** `src_ip=192.0.2.1, alert.signature_id=2001` under the subject. */
  keyFields: string;
  /** Said under the subject instead, when there are no key fields. */
  note?: string;
  state: GroupState;
  /** The shown alert's status (delivered, failed, …). */
  status: string;
  /** Why the newest alert was held (realert, group, silence, ack, breaker). */
  reason?: string;
  /** The alert whose email covers the storm. */
  notifiedHref?: string;
  ackedBy?: string;
  jiraKeys: string[];
}

const STATE_STYLE: Record<GroupState, string> = {
  notifying: "background:#e3f4ec;color:#0b6e45;",
  suppressed: "background:#fff4dc;color:#8a5a00;",
  silenced: "background:#e8e6f7;color:#4b3f9a;",
  acked: "background:#e6eef8;color:#1d5fa8;",
};

function State({ row }: { row: GroupRow }): JSX.Element {
  // `realert · mailed as`, `silence`, `by bob · mailed as`: why it is held, then whose email covers it.
  const why = row.state === "acked"
    ? (row.ackedBy ? `by ${row.ackedBy}` : "")
    : row.state !== "notifying" && row.reason
    ? row.reason
    : "";
  return (
    <>
      <span class="badge" style={STATE_STYLE[row.state]}>{row.state}</span>
      {row.status !== "delivered" && row.status !== "suppressed"
        ? (
          <>
            {" "}
            <Badge status={row.status} />
          </>
        )
        : null}
      <span class="muted">
        {why ? ` ${why}${row.notifiedHref ? " · " : ""}` : " "}
        {row.notifiedHref ? <a href={row.notifiedHref}>mailed as</a> : null}
      </span>
    </>
  );
}

/** The groups as a table, or a note when none match. */
export function GroupTable({ rows }: { rows: GroupRow[] }): JSX.Element {
  return rows.length === 0
    ? <p class="muted" style="margin:0;">No alerts match.</p>
    : (
      <table class="stack groups">
        <tr class="head">
          <th>Last seen</th>
          <th class="num">Alerts</th>
          <th>Subject</th>
          <th>State</th>
          <th>Detector</th>
          <th>Severity</th>
        </tr>
        {rows.map((row) => (
          <tr key={row.key}>
            <td class="when" data-label="Last seen">
              {formatTime(row.lastSeen)}
              {row.count > 1
                ? (
                  <div class="muted small">
                    first {formatTime(row.firstSeen)}
                  </div>
                )
                : null}
            </td>
            <td class="num" data-label="Alerts">
              <a href={row.href} class="count">{String(row.count)}</a>
              {row.total !== undefined
                ? <div class="muted small">{`of ${row.total}`}</div>
                : null}
            </td>
            <td data-label="Subject">
              <a href={row.href}>{row.subject}</a>
              {row.keyFields || row.note
                ? <div class="muted small">{row.keyFields || row.note}</div>
                : null}
              {row.jiraKeys.length > 0
                ? <div class="small">Jira: {row.jiraKeys.join(", ")}</div>
                : null}
            </td>
            <td data-label="State">
              <State row={row} />
            </td>
            <td data-label="Detector">{row.detector}</td>
            <td data-label="Severity">
              {row.severity ? <SeverityBadge level={row.severity} /> : null}
            </td>
          </tr>
        ))}
      </table>
    );
}
