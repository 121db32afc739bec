/**
 * A replay's report as text (a line per alert, its changes indented below it), and as HTML pages that
 * show the recorded email and the replayed one side by side (each in a sandboxed iframe: no script, no
 * request leaves the page).
 *
 * @module
 */
import type { ReplayedAlert, ReplayReport, StormCounts } from "./_views.ts";
import type { StormView } from "./_storm.ts";
import { stringifyJson } from "../json.ts";

function show(value: unknown, field?: string): string {
  if (field === "storm" && value && typeof value === "object") {
    return decision(value as StormView);
  }
  return stringifyJson(value);
}

/** `notify`, or `suppressed by realert (notified <id>)`. */
function decision(view: StormView): string {
  if (view.decision === "notify") return "notify";
  const about = [
    ...(view.notified_id ? [`notified ${view.notified_id}`] : []),
    ...(view.silence_id ? [`silence ${view.silence_id}`] : []),
  ];
  return `suppressed by ${view.suppressed_by ?? "?"}${
    about.length ? ` (${about.join(", ")})` : ""
  }`;
}

const KINDS: [string, string, string][] = [
  ["digest", "digest", "digests"],
  ["group", "grouped email", "grouped emails"],
  ["silence_end", "end-of-silence email", "end-of-silence emails"],
  ["breaker_on", "storm-mode-on notice", "storm-mode-on notices"],
  ["breaker_digest", "storm-mode digest", "storm-mode digests"],
  ["breaker_off", "storm-mode-off notice", "storm-mode-off notices"],
];

function counted(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** `12 emails and 3 digests`: the alerts' own emails, then each storm email kind sent. */
export function mailLine(counts: Record<string, number>, emails?: number) {
  const parts = [
    ...(emails !== undefined ? [counted(emails, "email", "emails")] : []),
    ...KINDS.filter(([kind]) => (counts[kind] ?? 0) > 0).map((
      [kind, one, many],
    ) => counted(counts[kind]!, one, many)),
  ];
  if (parts.length === 0) return "none";
  return parts.length === 1
    ? parts[0]!
    : `${parts.slice(0, -1).join(", ")} and ${parts[parts.length - 1]}`;
}

function suppressedLine(counts: StormCounts): string {
  const entries = Object.entries(counts.suppressed);
  const n = entries.reduce((sum, [, k]) => sum + (k ?? 0), 0);
  return entries.length
    ? `${n} suppressed (${entries.map(([r, k]) => `${r} ${k}`).join(", ")})`
    : "0 suppressed";
}

/** The text report: one line per alert, each change below a changed one, then the summary. */
export function textReport(report: ReplayReport, header: string): string {
  const lines = [header];
  for (const alert of report.alerts) {
    const head = `${
      alert.changed ? "~" : "="
    } ${alert.id} ${alert.detector} ${alert.received_at}`;
    lines.push(alert.changed ? head : `${head} unchanged`);
    for (const change of alert.changes) {
      lines.push(
        `    ${change.field}: ${show(change.before, change.field)} → ${
          show(change.after, change.field)
        }`,
      );
    }
  }
  const { summary } = report;
  lines.push(
    `summary: ${summary.replayed} replayed, ${summary.changed} changed, ${summary.unchanged} unchanged; ` +
      `emails ${summary.emails.before} → ${summary.emails.after}`,
  );
  const { before, after, pending } = summary.storm;
  lines.push(
    `storm: ${mailLine(after.storm_emails, after.emails)} instead of ${
      mailLine(before.storm_emails, before.emails)
    }; ${suppressedLine(after)} instead of ${suppressedLine(before)}`,
  );
  if (Object.keys(pending).length) {
    lines.push(
      `storm pending: ${
        mailLine(pending)
      } still to come once their windows close (after the replay's end)`,
    );
  }
  for (const [step, counts] of Object.entries(summary.decisions)) {
    lines.push(
      `${step}: ${
        Object.entries(counts).map(([d, n]) => `${d} ${n}`).join(", ")
      }`,
    );
  }
  return lines.join("\n") + "\n";
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE =
  "body{font:14px system-ui,sans-serif;margin:16px;color:#1f2933}table{border-collapse:collapse}" +
  "td,th{border:1px solid #dde2e8;padding:4px 8px;text-align:left;vertical-align:top}" +
  ".pair{display:flex;gap:12px}.pair div{flex:1}iframe{width:100%;height:80vh;border:1px solid #dde2e8}";

function page(title: string, body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">` +
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'">` +
    `<title>${
      escape(title)
    }</title><style>${STYLE}</style></head><body>${body}</body></html>\n`;
}

function frame(html: string | undefined, label: string): string {
  return html === undefined
    ? `<div><h2>${label}</h2><p>No email recorded (not sent, or cleared by retention).</p></div>`
    : `<div><h2>${label}</h2><iframe sandbox="" srcdoc="${
      escape(html)
    }"></iframe></div>`;
}

/** One alert's page: its changes, then the recorded and the replayed email side by side. */
export function alertPage(alert: ReplayedAlert): string {
  const rows = alert.changes.map((c) =>
    `<tr><th>${escape(c.field)}</th><td>${
      escape(show(c.before, c.field))
    }</td><td>${escape(show(c.after, c.field))}</td></tr>`
  ).join("");
  return page(
    `${alert.id} (${alert.detector})`,
    `<p><a href="index.html">All alerts</a></p><h1>${escape(alert.id)} · ${
      escape(alert.detector)
    }</h1>` +
      `<p>Received ${escape(alert.received_at)}: ${
        alert.changed ? "changed" : "unchanged"
      }</p>` +
      (rows
        ? `<table><tr><th>field</th><th>recorded</th><th>replayed</th></tr>${rows}</table>`
        : "") +
      `<div class="pair">${frame(alert.before.message?.html, "Recorded")}${
        frame(
          alert.after.sent ? alert.after.message?.html : undefined,
          "Replayed",
        )
      }</div>`,
  );
}

/** The index page: every alert with its changed fields, linking to its page. */
export function indexPage(report: ReplayReport): string {
  const rows = report.alerts.map((a) =>
    `<tr><td><a href="${encodeURIComponent(a.id)}.html">${
      escape(a.id)
    }</a></td><td>${escape(a.detector)}</td>` +
    `<td>${escape(a.received_at)}</td><td>${
      a.changed ? escape(a.changes.map((c) => c.field).join(", ")) : "unchanged"
    }</td></tr>`
  ).join("");
  const { summary } = report;
  return page(
    "Blitz replay",
    `<h1>Blitz replay</h1><p>${summary.replayed} replayed, ${summary.changed} changed; emails ` +
      `${summary.emails.before} → ${summary.emails.after}; storm: ${
        escape(
          mailLine(
            summary.storm.after.storm_emails,
            summary.storm.after.emails,
          ),
        )
      } instead of ${
        escape(
          mailLine(
            summary.storm.before.storm_emails,
            summary.storm.before.emails,
          ),
        )
      }</p>` +
      `<table><tr><th>alert</th><th>detector</th><th>received</th><th>changes</th></tr>${rows}</table>`,
  );
}
