/**
 * The frame of Blitz's server-rendered pages: one document, inline CSS, no scripts, nothing loaded
 * from anywhere (SECURITY.md item 8). Every value is text; Preact escapes it.
 *
 * @module
 */
import { type Level, LEVEL_COLORS } from "../../core/severity.ts";
import { h } from "preact";
import type { ComponentChildren, JSX } from "preact";
import { render } from "preact-render-to-string";
import { THEME, WRAP } from "../../emails/DataView.tsx";

/** A constant style sheet: no user data ever goes in here. */
const CSS = `
*{box-sizing:border-box}
body{margin:0;background:${THEME.page};color:${THEME.text};font:15px/1.5 ${THEME.font}}
main{max-width:860px;margin:0 auto;padding:24px 16px 48px}
.band{background:${THEME.band};color:${THEME.bandText};padding:18px 22px;border-radius:6px 6px 0 0}
.kicker{color:${THEME.bandMuted};font-size:12px;letter-spacing:.06em;text-transform:uppercase}
.band h1{margin:4px 0 0;font-size:21px;line-height:1.3;${WRAP}}
.card{background:${THEME.card};padding:18px 22px;border-bottom:1px solid ${THEME.line}}
.card:last-child{border-radius:0 0 6px 6px;border-bottom:0}
h2{font-size:13px;letter-spacing:.05em;text-transform:uppercase;color:${THEME.muted};margin:0 0 10px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:6px 8px;border-bottom:1px solid ${THEME.line};${WRAP}}
th{color:${THEME.muted};font-weight:600;font-size:13px}
td.k{width:30%;color:${THEME.muted}}
pre{margin:0;white-space:pre-wrap;font:13px/1.45 ${THEME.mono};${WRAP}}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;background:${THEME.subtle};color:${THEME.muted}}
.ok{background:#e3f4ec;color:#0b6e45}.error,.timeout,.failed{background:#fbe7e7;color:#a61b1b}
.running,.retry,.queued,.processing,.unknown{background:#fff4dc;color:#8a5a00}
.note{padding:10px 12px;border-left:3px solid #7c93ad;background:#eef3f8}
.warn{padding:10px 12px;border-left:3px solid #c23030;background:#fbe7e7}
label{display:block;font-weight:600;margin:0 0 4px}
input[type=text],select{font:inherit;padding:7px 9px;border:1px solid #b8c2cc;border-radius:4px;width:100%;max-width:360px}
.filters{display:flex;gap:10px 12px;align-items:flex-end;flex-wrap:wrap}
.filters .field{flex:1 1 150px;min-width:0;max-width:260px}
.filters .field:first-child{flex-basis:220px}
td.when{white-space:nowrap}
table.stack th{white-space:nowrap;overflow-wrap:normal;word-break:normal}
.badge{white-space:nowrap}
.num{text-align:right}
a.count{font-weight:700;font-size:16px}
.small{font-size:12px}
@media (max-width:640px){
main{padding:12px 8px 32px}
.band,.card{padding:14px 14px}
.filters .field{max-width:none;flex-basis:40%}
table.stack,table.stack tbody,table.stack tr,table.stack td{display:block;width:100%}
table.stack tr.head{display:none}
table.stack tr{padding:8px 0;border-bottom:1px solid ${THEME.line}}
table.stack td{border:0;padding:2px 0;text-align:left;white-space:normal}
table.stack td:empty{display:none}
table.stack td[data-label]::before{content:attr(data-label) ": ";color:${THEME.muted};font-size:12px;font-weight:600}
}
button{font:inherit;font-weight:600;padding:9px 18px;border:0;border-radius:4px;cursor:pointer}
.muted{color:${THEME.muted}}
a{color:#1d5fa8}
`;

/** A whole page: title, a dark band with a kicker, then the cards. */
export function Page(
  { title, kicker, children }: {
    title: string;
    kicker: string;
    children: ComponentChildren;
  },
): JSX.Element {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="robots" content="noindex, nofollow" />
        <meta name="referrer" content="no-referrer" />
        <title>{title}</title>
        <style dangerouslySetInnerHTML={{ __html: CSS }} />
      </head>
      <body>
        <main>
          <div class="band">
            <div class="kicker">{kicker}</div>
            <h1>{title}</h1>
          </div>
          {children}
        </main>
      </body>
    </html>
  );
}

/** One white section of a page, with an optional small heading. */
export function Card(
  { heading, children }: { heading?: string; children: ComponentChildren },
): JSX.Element {
  return (
    <section class="card">
      {heading ? <h2>{heading}</h2> : null}
      {children}
    </section>
  );
}

/** A status word in a colored pill. */
export function Badge({ status }: { status: string }): JSX.Element {
  const known =
    /^(ok|error|timeout|failed|running|retry|queued|processing|unknown)$/.test(
        status,
      )
      ? ` ${status}`
      : "";
  return <span class={`badge${known}`}>{status}</span>;
}

/** A severity level as the emails show it: the level in capitals on its colour. */
export function SeverityBadge({ level }: { level: string }): JSX.Element {
  const colors = LEVEL_COLORS[level as Level];
  return colors
    ? (
      <span
        class="badge"
        style={`background:${colors.bg};color:${colors.fg};`}
      >
        {level.toUpperCase()}
      </span>
    )
    : <span class="badge">{level}</span>;
}

/** Names and values as a two-column table; values are text. */
export function Facts(
  { rows }: { rows: [string, ComponentChildren][] },
): JSX.Element {
  return (
    <table>
      {rows.map(([name, value], i) => (
        <tr key={i}>
          <td class="k">{name}</td>
          <td>{value}</td>
        </tr>
      ))}
    </table>
  );
}

/** Renders a page component to a full HTML document. */
export function renderPage<P>(
  component: (props: P) => JSX.Element,
  props: P,
): string {
  // deno-lint-ignore no-explicit-any
  return `<!DOCTYPE html>${render(h(component as any, props as any))}`;
}
