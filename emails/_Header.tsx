/**
 * The top of an email: the dark band with kicker and title, then a card with the metadata table
 * (and anything the email adds below it).
 *
 * @module
 */
import type { ComponentChildren } from "preact";
import { THEME, WRAP } from "./DataView.tsx";
import { Row } from "./_Layout.tsx";

/** The band and the metadata card; `children` go below the metadata. */
export function Header(
  { kicker, title, meta, children }: {
    kicker: string;
    title: string;
    meta: [string, string][];
    children?: ComponentChildren;
  },
) {
  return (
    <>
      <Band kicker={kicker} title={title} />
      <Row>
        <Meta rows={meta} />
        {children}
      </Row>
    </>
  );
}

function Band({ kicker, title }: { kicker: string; title: string }) {
  return (
    <tr>
      <td
        style={`background:${THEME.band};padding:18px 20px;border-radius:6px 6px 0 0;${WRAP}`}
      >
        <div
          style={`font-size:11px;letter-spacing:0.08em;text-transform:uppercase;color:${THEME.bandMuted};`}
        >
          {kicker}
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
