/**
 * The "Respond" section of the alert email: one signed link per reply button, colored as configured,
 * and a note that each opens a confirmation page. Only http(s) links are rendered as links.
 *
 * @module
 */
import { THEME, WRAP } from "./DataView.tsx";
import { GroupLabel, Row } from "./_Layout.tsx";

/** One reply button: a signed one-click link. */
export interface EmailButton {
  label: string;
  /** Hex color such as `#2563eb`, or a basic color name. */
  color: string;
  href: string;
  /** What the button does (`Runs jira_create, then http_request POST fw.example.org`). */
  description?: string;
}

/** The href to use, or `undefined` when it is not an absolute http(s) URL. */
export function safeHref(href: string): string | undefined {
  try {
    const url = new URL(href);
    return url.protocol === "http:" || url.protocol === "https:"
      ? url.href
      : undefined;
  } catch {
    return undefined;
  }
}

const NAMED_COLORS: Record<string, string> = {
  blue: "#2563eb",
  green: "#1f7a4d",
  red: "#c4353c",
  orange: "#c2570c",
  yellow: "#b7791f",
  purple: "#6d4fc2",
  gray: "#4b5563",
  grey: "#4b5563",
  black: "#1f2933",
};
const DEFAULT_BUTTON = "#2f5d8a";

/** Background and text colors for a button; anything but a hex color or a known name gets the default. */
export function buttonColors(
  color: string,
): { background: string; text: string } {
  const hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.test(color)
    ? color
    : NAMED_COLORS[color.toLowerCase()] ?? DEFAULT_BUTTON;
  const full = hex.length === 4 ? hex.replace(/[0-9a-f]/gi, (c) => c + c) : hex;
  const [r, g, b] = [1, 3, 5].map((i) =>
    parseInt(full.slice(i, i + 2), 16) / 255
  );
  const luminance = 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
  return { background: hex, text: luminance > 0.6 ? "#1f2933" : "#ffffff" };
}

/** The "Respond" group: every button with what it does, then the note about the confirmation page. */
export function Buttons({ buttons }: { buttons: EmailButton[] }) {
  return (
    <>
      <GroupLabel>Respond</GroupLabel>
      <Row>
        <div>
          {buttons.map((b, i) => (
            <div key={i} style="margin:0 0 6px 0;">
              <Button button={b} />
              {b.description
                ? (
                  <div
                    style={`margin:-4px 0 6px 0;font-size:12px;color:${THEME.muted};${WRAP}`}
                  >
                    {b.description}
                  </div>
                )
                : null}
            </div>
          ))}
        </div>
        <div
          style={`margin-top:4px;font-size:12px;color:${THEME.muted};`}
        >
          Each button opens a confirmation page; nothing runs until you confirm
          there.
        </div>
      </Row>
    </>
  );
}

function Button({ button }: { button: EmailButton }) {
  const href = safeHref(button.href);
  const { background, text } = buttonColors(button.color);
  const base =
    `display:inline-block;margin:0 8px 8px 0;padding:10px 18px;border-radius:4px;font-size:14px;font-weight:600;line-height:1.3;text-decoration:none;max-width:100%;box-sizing:border-box;${WRAP}`;
  return href
    ? (
      <a
        href={href}
        target="_blank"
        rel="noopener noreferrer"
        style={`${base}background-color:${background};color:${text};`}
      >
        {button.label}
      </a>
    )
    : (
      <span style={`${base}background-color:#e4e7eb;color:${THEME.faint};`}>
        {button.label} (link unavailable)
      </span>
    );
}
