/**
 * The top of an email: the dark band with kicker, severity badge and title, then a card with the key
 * fields (host, IP, user…), the metadata table and the alert page link (and anything the email adds
 * below them).
 *
 * @module
 */
import type { ComponentChildren } from "preact";
import { THEME, WRAP } from "./DataView.tsx";
import { Row } from "./_Layout.tsx";
import { type Level, LEVEL_COLORS } from "../core/severity.ts";

/** The band and the card of key fields and metadata; `children` go below the metadata. */
export function Header(
  { kicker, title, severity, keyFields = [], meta, link, children }: {
    kicker: string;
    title: string;
    severity?: Level;
    keyFields?: [string, string][];
    meta: [string, string][];
    /** The alert's page. */
    link?: string;
    children?: ComponentChildren;
  },
) {
  return (
    <>
      <Band kicker={kicker} title={title} severity={severity} />
      <Row>
        {keyFields.length > 0 ? <KeyFields rows={keyFields} /> : null}
        <Meta rows={meta} />
        {link
          ? (
            <div style="margin-top:6px;font-size:13px;">
              <a href={link} style={`color:${THEME.muted};`}>
                Open the alert page
              </a>
            </div>
          )
          : null}
        {children}
      </Row>
    </>
  );
}

/** The severity badge: the level in capitals on its colour. */
export function SeverityBadge({ level }: { level: Level }) {
  const colors = LEVEL_COLORS[level];
  return (
    <span
      style={`display:inline-block;padding:3px 10px;margin:0 8px 0 0;border-radius:10px;font-size:12px;font-weight:700;letter-spacing:0.06em;background:${colors.bg};color:${colors.fg};`}
    >
      {level.toUpperCase()}
    </span>
  );
}

/** What preact-render-to-string escapes in text (`encodeEntities`), the same way. */
const ESCAPES: Record<string, string> = {
  '"': "&quot;",
  "&": "&amp;",
  "<": "&lt;",
};

/**
 * The kicker as HTML: escaped as preact escapes text, its separator "·" written as `&middot;` (the
 * same in every mail reader). The templates have no other non-ASCII character, so an alert of ASCII
 * text makes an ASCII document: Deno's UTF-8 encoding of it (the MIME part, the stored message) is
 * ~2.5× faster, and no pass over the whole rendered document is needed for it (issue 17).
 *
 * The emails' one raw HTML: the kicker carries a detector's name or a silence's scope, so escaping it
 * here is what keeps them text (SECURITY.md rule 15); `render_test.ts` compares this escaping with
 * preact's own, byte for byte, over the injection vectors.
 */
export function kickerHtml(kicker: string): string {
  return kicker.replace(/["&<]/g, (c) => ESCAPES[c]!).replaceAll(
    "\u00b7",
    "&middot;",
  );
}

function Band(
  { kicker, title, severity }: {
    kicker: string;
    title: string;
    severity: Level | undefined;
  },
) {
  return (
    <tr>
      <td
        style={`background:${THEME.band};padding:18px 20px;border-radius:6px 6px 0 0;${WRAP}`}
      >
        <div
          style={`font-size:11px;letter-spacing:0.08em;text-transform:uppercase;color:${THEME.bandMuted};`}
        >
          {severity ? <SeverityBadge level={severity} /> : null}
          <span dangerouslySetInnerHTML={{ __html: kickerHtml(kicker) }} />
        </div>
        <h1
          style={`margin:6px 0 0 0;font-size:20px;line-height:1.3;font-weight:600;color:${THEME.bandText};`}
        >
          {title}
        </h1>
      </td>
    </tr>
  );
}

/** The fields an analyst reads first, larger than the metadata. */
function KeyFields({ rows }: { rows: [string, string][] }) {
  return (
    <table
      role="presentation"
      cellPadding="0"
      cellSpacing="0"
      style={`width:100%;font-size:15px;margin:0 0 10px 0;padding:0 0 8px 0;border-bottom:1px solid ${THEME.line};`}
    >
      {rows.map(([name, value]) => (
        <tr key={name}>
          <td
            style={`width:110px;padding:3px 12px 3px 0;color:${THEME.muted};vertical-align:top;white-space:nowrap;`}
          >
            {name}
          </td>
          <td
            style={`padding:3px 0;color:${THEME.text};font-weight:600;${WRAP}`}
          >
            {value}
          </td>
        </tr>
      ))}
    </table>
  );
}

function Meta({ rows }: { rows: [string, string][] }) {
  return (
    <table
      role="presentation"
      cellPadding="0"
      cellSpacing="0"
      style="width:100%;font-size:13px;"
    >
      {rows.map(([name, value]) => (
        <tr key={name}>
          <td
            style={`width:92px;padding:2px 12px 2px 0;color:${THEME.muted};vertical-align:top;white-space:nowrap;`}
          >
            {name}
          </td>
          <td
            style={`padding:2px 0;color:${THEME.text};font-family:${THEME.mono};font-size:12px;${WRAP}`}
          >
            {value}
          </td>
        </tr>
      ))}
    </table>
  );
}
