/**
 * The alert email and the follow-up email sent after a reply button ran, as Preact components.
 *
 * Email-client safe: table layout, inline styles only, nothing loaded from anywhere, a 600 px column
 * that shrinks to the screen, and every long value wraps. Every value is text; links are http(s) only.
 *
 * @module
 */
import type { ComponentChildren, JSX } from "preact";
import { DataView, KeyValueTable, safeJson, THEME, WRAP } from "./DataView.tsx";

/** One enrichment's outcome as shown in the email. */
export interface EmailEnrichment {
  name: string;
  status: "ok" | "error" | "timeout" | "skipped";
  ms: number;
  data?: unknown;
  error?: string;
  timeoutMs?: number;
}

/** One reply button: a signed one-click link. */
export interface EmailButton {
  label: string;
  /** Hex color such as `#2563eb`, or a basic color name. */
  color: string;
  href: string;
}

/** Everything the alert email shows. */
export interface EmailModel {
  title: string;
  subject: string;
  detector: string;
  alertId: string;
  /** ISO time the alert arrived. */
  receivedAt: string;
  /** E.g. "No enrichment condition matched this alert". */
  conditionNote?: string;
  enrichments: EmailEnrichment[];
  /** Results of send actions (`pass_to_mail`): `name` is the `return_name`. */
  sendResults: { name: string; value: unknown }[];
  /** The alert itself, present when the detector sets `include_json`. */
  alertJson?: unknown;
  buttons: EmailButton[];
}

/** One step of a reply button's actions, after it ran. */
export interface FollowUpStep {
  name: string;
  status: string;
  value?: unknown;
  error?: string;
}

/** Everything the follow-up email shows. */
export interface FollowUpModel {
  title: string;
  actor: string;
  button: string;
  /** ISO time the button was confirmed. */
  at: string;
  steps: FollowUpStep[];
}

/** The alert email as a full HTML document. */
export function AlertEmail({ model }: { model: EmailModel }): JSX.Element {
  const title = model.title || model.subject;
  return (
    <Document title={model.subject || title}>
      <Band kicker={`Blitz alert · ${model.detector}`} title={title} />
      <Row>
        <Meta
          rows={[["Detector", model.detector], ["Alert ID", model.alertId], [
            "Received",
            formatTime(model.receivedAt),
          ]]}
        />
        {model.conditionNote
          ? (
            <div
              style={`margin-top:12px;padding:8px 12px;background:#eef3f8;border-left:3px solid #7c93ad;color:${THEME.text};font-size:13px;${WRAP}`}
            >
              {model.conditionNote}
            </div>
          )
          : null}
      </Row>
      {model.enrichments.length > 0
        ? <GroupLabel>Enrichments</GroupLabel>
        : null}
      {model.enrichments.map((e, i) => (
        <EnrichmentSection key={i} enrichment={e} />
      ))}
      {model.sendResults.length > 0
        ? (
          <>
            <GroupLabel>Results</GroupLabel>
            <Row>
              <KeyValueTable
                entries={model.sendResults.map((r) => [r.name, r.value])}
              />
            </Row>
          </>
        )
        : null}
      {model.buttons.length > 0
        ? (
          <>
            <GroupLabel>Respond</GroupLabel>
            <Row>
              <div>
                {model.buttons.map((b, i) => <Button key={i} button={b} />)}
              </div>
              <div
                style={`margin-top:4px;font-size:12px;color:${THEME.muted};`}
              >
                Each button opens a confirmation page; nothing runs until you
                confirm there.
              </div>
            </Row>
          </>
        )
        : null}
      {model.alertJson !== undefined
        ? (
          <>
            <GroupLabel>Alert JSON</GroupLabel>
            <Row>
              <DataView value={safeJson(model.alertJson, 2)} />
            </Row>
          </>
        )
        : null}
      <Footer>
        Sent by Blitz for alert{" "}
        {model.alertId}. The buttons are signed action links that work for
        anyone who has this email: please do not forward it.
      </Footer>
    </Document>
  );
}

/** The follow-up email: who pressed which button, and what each step did. */
export function FollowUpEmail(
  { model }: { model: FollowUpModel },
): JSX.Element {
  return (
    <Document title={model.title}>
      <Band kicker={`Blitz action · ${model.button}`} title={model.title} />
      <Row>
        <Meta
          rows={[["Button", model.button], ["Pressed by", model.actor], [
            "At",
            formatTime(model.at),
          ]]}
        />
      </Row>
      {model.steps.length > 0 ? <GroupLabel>Steps</GroupLabel> : null}
      {model.steps.map((step, i) => {
        const status = normalizeStatus(step.status);
        return (
          <Row key={i} accent={STATUS[status].accent}>
            <Heading
              name={step.name}
              status={status}
              label={status === "other" ? step.status : undefined}
            />
            <div style="margin-top:8px;">
              {step.error !== undefined
                ? (
                  <div
                    style={`color:${STATUS.error.fg};font-size:14px;${WRAP}`}
                  >
                    {step.error}
                  </div>
                )
                : <DataView value={step.value} depth={1} />}
            </div>
          </Row>
        );
      })}
      <Footer>Sent by Blitz after a reply button was confirmed.</Footer>
    </Document>
  );
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

/** What an error, timeout or skipped enrichment says instead of data. */
export function enrichmentMessage(e: EmailEnrichment): string | undefined {
  switch (e.status) {
    case "error":
      return `${e.name} — failed: ${e.error ?? "unknown error"}`;
    case "timeout":
      return `${e.name} — timed out after ${
        formatSeconds(e.timeoutMs ?? e.ms)
      }`;
    case "skipped":
      return "skipped";
    default:
      return undefined;
  }
}

/** `2025-01-31 14:05:09 UTC` for a valid ISO time, else the input unchanged. */
export function formatTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime())
    ? iso
    : date.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

/** `5 s`, `2.5 s`, `0.25 s`. */
export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(2))} s`;
}

/** Status names as shown in badges. */
export const STATUS_LABELS = {
  ok: "OK",
  error: "Failed",
  timeout: "Timed out",
  skipped: "Skipped",
  other: "",
};

type Status = keyof typeof STATUS_LABELS;

const STATUS: Record<Status, { fg: string; bg: string; accent?: string }> = {
  ok: { fg: "#1e6b43", bg: "#e3f2e9" },
  error: { fg: "#a4262c", bg: "#fbe9ea", accent: "#c4353c" },
  timeout: { fg: "#8a5300", bg: "#fcefd4", accent: "#d08a0c" },
  skipped: { fg: "#52606d", bg: "#eceff2" },
  other: { fg: "#52606d", bg: "#eceff2" },
};

function normalizeStatus(status: string): Status {
  const s = status.toLowerCase();
  if (["ok", "done", "success", "succeeded"].includes(s)) return "ok";
  if (["error", "failed", "failure"].includes(s)) return "error";
  if (["timeout", "timed_out"].includes(s)) return "timeout";
  if (s === "skipped") return "skipped";
  return "other";
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

function Document(
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

function Row(
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

function GroupLabel({ children }: { children: ComponentChildren }) {
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

function Heading(
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

function EnrichmentSection({ enrichment: e }: { enrichment: EmailEnrichment }) {
  const message = enrichmentMessage(e);
  const colors = STATUS[e.status];
  return (
    <Row accent={colors.accent}>
      <Heading name={e.name} status={e.status} ms={e.ms} />
      <div style="margin-top:8px;">
        {message === undefined
          ? (e.data === undefined
            ? <span style={`color:${THEME.faint};`}>No data returned</span>
            : <DataView value={e.data} />)
          : (
            <div
              style={`color:${
                e.status === "skipped" ? THEME.faint : colors.fg
              };font-size:14px;${WRAP}`}
            >
              {message}
            </div>
          )}
      </div>
    </Row>
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

function Footer({ children }: { children: ComponentChildren }) {
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

function formatMs(ms: number): string {
  return ms >= 1000 ? formatSeconds(ms) : `${Math.round(ms)} ms`;
}
