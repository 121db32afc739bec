/**
 * The frame every email shares: the HTML document with its centred 600 px table, card rows, group
 * labels between sections, and the footer line.
 *
 * @module
 */
import type { ComponentChildren } from "preact";
import { THEME, WRAP } from "./DataView.tsx";

/** The full HTML document around the email's rows. */
export function Document(
  { title, children }: { title: string; children: ComponentChildren },
) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light" />
        <meta name="x-apple-disable-message-reformatting" />
        <title>{title}</title>
      </head>
      <body style={`margin:0;padding:0;background:${THEME.page};`}>
        <table
          role="presentation"
          width="100%"
          cellPadding="0"
          cellSpacing="0"
          style={`width:100%;background:${THEME.page};`}
        >
          <tr>
            <td align="center" style="padding:16px 8px;">
              <table
                role="presentation"
                width="600"
                cellPadding="0"
                cellSpacing="0"
                style={`width:100%;max-width:600px;font-family:${THEME.font};font-size:14px;line-height:1.5;color:${THEME.text};text-align:left;`}
              >
                {children}
              </table>
            </td>
          </tr>
        </table>
      </body>
    </html>
  );
}

/** One card row; `accent` colors a thicker left border. */
export function Row(
  { children, accent }: {
    children: ComponentChildren;
    accent?: string | undefined;
  },
) {
  const left = accent
    ? `border-left:4px solid ${accent};padding-left:17px;`
    : `border-left:1px solid ${THEME.line};`;
  return (
    <tr>
      <td
        style={`background:${THEME.card};padding:14px 20px;${left}border-right:1px solid ${THEME.line};border-bottom:1px solid ${THEME.line};${WRAP}`}
      >
        {children}
      </td>
    </tr>
  );
}

/** The small upper-case label above a group of rows. */
export function GroupLabel({ children }: { children: ComponentChildren }) {
  return (
    <tr>
      <td
        style={`background:${THEME.subtle};padding:14px 20px 6px 20px;border-left:1px solid ${THEME.line};border-right:1px solid ${THEME.line};border-bottom:1px solid ${THEME.line};font-size:11px;font-weight:600;letter-spacing:0.08em;text-transform:uppercase;color:${THEME.muted};`}
      >
        {children}
      </td>
    </tr>
  );
}

/** The muted line below the last card. */
export function Footer({ children }: { children: ComponentChildren }) {
  return (
    <tr>
      <td
        style={`padding:14px 20px;font-size:12px;color:${THEME.faint};${WRAP}`}
      >
        {children}
      </td>
    </tr>
  );
}
