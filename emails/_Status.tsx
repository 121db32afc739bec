/**
 * Statuses of enrichments and follow-up steps: their badge labels and colors, and the heading row
 * that shows a name, its duration and its badge.
 *
 * @module
 */
import { THEME, WRAP } from "./DataView.tsx";
import { formatMs } from "./_format.ts";

/** Status names as shown in badges. */
export const STATUS_LABELS = {
  ok: "OK",
  error: "Failed",
  timeout: "Timed out",
  skipped: "Skipped",
  other: "",
};

/** A status the emails know how to color. */
export type Status = keyof typeof STATUS_LABELS;

/** Badge colors per status, and the accent of a card that needs attention. */
export const STATUS: Record<
  Status,
  { fg: string; bg: string; accent?: string }
> = {
  ok: { fg: "#1e6b43", bg: "#e3f2e9" },
  error: { fg: "#a4262c", bg: "#fbe9ea", accent: "#c4353c" },
  timeout: { fg: "#8a5300", bg: "#fcefd4", accent: "#d08a0c" },
  skipped: { fg: "#52606d", bg: "#eceff2" },
  other: { fg: "#52606d", bg: "#eceff2" },
};

/** Maps an action step's status word (`done`, `failed`, `timed_out`, …) to a known status. */
export function normalizeStatus(status: string): Status {
  const s = status.toLowerCase();
  if (["ok", "done", "success", "succeeded"].includes(s)) return "ok";
  if (["error", "failed", "failure"].includes(s)) return "error";
  if (["timeout", "timed_out"].includes(s)) return "timeout";
  if (s === "skipped") return "skipped";
  return "other";
}

/** A name on the left; its duration (unless skipped) and status badge on the right. */
export function Heading(
  { name, status, label, ms }: {
    name: string;
    status: Status;
    label?: string | undefined;
    ms?: number;
  },
) {
  const colors = STATUS[status];
  return (
    <table
      role="presentation"
      cellPadding="0"
      cellSpacing="0"
      style="width:100%;"
    >
      <tr>
        <td
          style={`font-size:15px;font-weight:600;color:${THEME.text};vertical-align:middle;${WRAP}`}
        >
          {name}
        </td>
        <td
          align="right"
          style="vertical-align:middle;white-space:nowrap;padding-left:8px;"
        >
          {ms !== undefined && status !== "skipped"
            ? (
              <span
                style={`font-size:12px;color:${THEME.faint};padding-right:8px;`}
              >
                {formatMs(ms)}
              </span>
            )
            : null}
          <span
            style={`display:inline-block;padding:2px 8px;border-radius:10px;font-size:11px;font-weight:600;background:${colors.bg};color:${colors.fg};`}
          >
            {label ?? STATUS_LABELS[status]}
          </span>
        </td>
      </tr>
    </table>
  );
}
