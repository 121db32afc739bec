/**
 * Storm control's emails (issue 11), one component for all of them: the digest of a closed realert
 * window, a grouped email of several fingerprints, the end of a silence, and the breaker's notices.
 * Each has a summary (facts), the distinct values of each fingerprint path with counts, a table of
 * alerts linking to `/alerts/<id>`, and buttons. Every value is text (Preact escapes it); the plain
 * text part says the same (`stormText`).
 *
 * @module
 */
import { h, type JSX } from "preact";
import { render } from "preact-render-to-string";
import { Buttons, type EmailButton, safeHref } from "./Buttons.tsx";
import { THEME, WRAP } from "./DataView.tsx";
import { Header } from "./_Header.tsx";
import { Document, Footer, GroupLabel, Row } from "./_Layout.tsx";
import { formatTime } from "./_format.ts";

/** The distinct values of one path, most frequent first. */
export interface StormDistinct {
  path: string;
  values: { value: string; count: number }[];
  /** Further distinct values not listed. */
  more: number;
}

/** One alert of the table. */
export interface StormRow {
  at: string;
  /** Values in the order of `columns`. */
  fields: string[];
  href: string;
  /** Why it was not mailed, or another short state. */
  note?: string;
}

/** What a storm email shows. */
export interface StormEmailModel {
  kicker: string;
  title: string;
  /** Label/value lines of the summary card. */
  facts: [string, string][];
  distinct: StormDistinct[];
  columns: string[];
  rows: StormRow[];
  /** Alerts not listed in the table. */
  more: number;
  /** A line under the table (e.g. "The next single email can fire at …"). */
  note?: string;
  /** A link to every alert the email is about, on the alert pages (e.g. a silence's `/alerts?silence=`). */
  link?: { label: string; href: string };
  buttons: EmailButton[];
  footer: string;
}

/** Renders a storm email: the HTML document and its plain-text part. */
export function renderStormEmail(
  model: StormEmailModel,
): { html: string; text: string } {
  return {
    html: `<!DOCTYPE html>${render(h(StormEmail, { model }))}`,
    text: stormText(model),
  };
}

const CELL =
  `padding:4px 8px 4px 0;border-bottom:1px solid ${THEME.line};vertical-align:top;font-size:12px;${WRAP}`;

/** The email. */
export function StormEmail({ model }: { model: StormEmailModel }): JSX.Element {
  return (
    <Document title={model.title}>
      <Header kicker={model.kicker} title={model.title} meta={model.facts} />
      {model.distinct.length > 0 ? <GroupLabel>Values</GroupLabel> : null}
      {model.distinct.map((d) => (
        <Row key={d.path}>
          <div style={`font-weight:600;font-size:13px;${WRAP}`}>{d.path}</div>
          <div style={`font-family:${THEME.mono};font-size:12px;${WRAP}`}>
            {d.values.map((v) => `${v.value} (${v.count})`).join(", ")}
            {d.more > 0 ? ` and ${d.more} more` : ""}
          </div>
        </Row>
      ))}
      {model.rows.length > 0 ? <GroupLabel>Alerts</GroupLabel> : null}
      {model.rows.length > 0
        ? (
          <Row>
            <table
              role="presentation"
              cellPadding="0"
              cellSpacing="0"
              style="width:100%;border-collapse:collapse;"
            >
              <tr>
                {["Time", ...model.columns, ""].map((c, i) => (
                  <th
                    key={i}
                    style={`${CELL}text-align:left;color:${THEME.muted};font-weight:600;`}
                  >
                    {c}
                  </th>
                ))}
              </tr>
              {model.rows.map((row, i) => (
                <tr key={i}>
                  <td style={`${CELL}white-space:nowrap;`}>
                    {formatTime(row.at).slice(11, 19)}
                  </td>
                  {row.fields.map((f, j) => (
                    <td key={j} style={`${CELL}font-family:${THEME.mono};`}>
                      {f}
                    </td>
                  ))}
                  <td style={CELL}>
                    <AlertLink href={row.href} label={row.note ?? "open"} />
                  </td>
                </tr>
              ))}
            </table>
            {model.more > 0
              ? (
                <div
                  style={`margin-top:6px;font-size:12px;color:${THEME.muted};`}
                >
                  and {model.more} more
                </div>
              )
              : null}
          </Row>
        )
        : null}
      {model.link
        ? (
          <Row>
            <div style={`font-size:13px;${WRAP}`}>
              <AlertLink href={model.link.href} label={model.link.label} />
            </div>
          </Row>
        )
        : null}
      {model.note
        ? (
          <Row>
            <div style={`font-size:13px;${WRAP}`}>{model.note}</div>
          </Row>
        )
        : null}
      {model.buttons.length > 0 ? <Buttons buttons={model.buttons} /> : null}
      <Footer>{model.footer}</Footer>
    </Document>
  );
}

function AlertLink({ href, label }: { href: string; label: string }) {
  const safe = safeHref(href);
  return safe
    ? <a href={safe} style="color:#2b6cb0;">{label}</a>
    : <span>{label}</span>;
}

/** The plain-text part. */
export function stormText(model: StormEmailModel): string {
  const lines = [model.title, ""];
  for (const [name, value] of model.facts) lines.push(`${name}: ${value}`);
  if (model.distinct.length > 0) lines.push("", "Values:");
  for (const d of model.distinct) {
    lines.push(
      `  ${d.path}: ${
        d.values.map((v) => `${v.value} (${v.count})`).join(", ")
      }${d.more > 0 ? ` and ${d.more} more` : ""}`,
    );
  }
  if (model.rows.length > 0) {
    lines.push("", `Alerts (time, ${model.columns.join(", ")}):`);
    for (const row of model.rows) {
      lines.push(
        `  ${formatTime(row.at).slice(11, 19)}  ${row.fields.join("  ")}  ${
          row.note ? `${row.note} ` : ""
        }${row.href}`,
      );
    }
    if (model.more > 0) lines.push(`  and ${model.more} more`);
  }
  if (model.link) lines.push("", `${model.link.label}: ${model.link.href}`);
  if (model.note) lines.push("", model.note);
  if (model.buttons.length > 0) {
    lines.push("", "Respond (each link opens a confirmation page):");
    for (const b of model.buttons) lines.push(`  ${b.label}: ${b.href}`);
  }
  lines.push("", model.footer);
  return lines.join("\n") + "\n";
}
