/**
 * One alert's channel deliveries (Slack, Teams, webhooks, PagerDuty, plugins) on its page: each
 * channel's state, attempts, last error and next attempt, so a failing channel is visible.
 *
 * @module
 */
import type { JSX } from "preact";
import { formatTime } from "../../emails/AlertEmail.tsx";
import { Badge } from "./Page.tsx";

/** One channel delivery as the page shows it. */
export interface ChannelRow {
  channel: string;
  type: string;
  event: string;
  status: string;
  attempts: number;
  updatedAt: string;
  nextAttemptAt?: string;
  deliveredAt?: string;
  lastError?: string;
}

/** The table of an alert's channel deliveries. */
export function ChannelTable({ rows }: { rows: ChannelRow[] }): JSX.Element {
  return (
    <table>
      <tr>
        <th>Channel</th>
        <th>State</th>
        <th>Attempts</th>
        <th>When</th>
        <th>Last error</th>
      </tr>
      {rows.map((row, i) => (
        <tr key={i}>
          <td>
            {row.channel}{" "}
            <span class="muted">
              ({row.type}
              {row.event === "alert" ? "" : `, ${row.event}`})
            </span>
          </td>
          <td>
            <Badge status={row.status} />
          </td>
          <td>{String(row.attempts)}</td>
          <td style="white-space:nowrap;">
            {row.deliveredAt
              ? `delivered ${formatTime(row.deliveredAt)}`
              : row.status === "pending" && row.nextAttemptAt
              ? `next attempt ${formatTime(row.nextAttemptAt)}`
              : formatTime(row.updatedAt)}
          </td>
          <td>{row.lastError ?? "—"}</td>
        </tr>
      ))}
    </table>
  );
}
