/**
 * Renders any JSON-like value for people: objects as key/value tables, arrays of objects as tables,
 * arrays of scalars as lists, strings as preformatted text. Every value is text (Preact escapes it).
 *
 * @module
 */
import { Fragment, type JSX } from "preact";
import { stringifyJson } from "../core/json.ts";

/** Caps that keep one enormous value from drowning the email. */
export const DATA_LIMITS = {
  /** Nesting shown as tables and lists; deeper values are shown as compact JSON. */
  depth: 6,
  /** Rows of a table, items of a list, keys of an object. */
  rows: 200,
  /** Columns of a table built from an array of objects; wider rows are shown one key/value table each. */
  columns: 6,
  /** Characters of one string or JSON block. */
  chars: 20_000,
} as const;

/** Colors and fonts shared by the email components. */
export const THEME = {
  page: "#eef1f4",
  card: "#ffffff",
  band: "#1f2d3d",
  bandText: "#ffffff",
  bandMuted: "#a9b8c8",
  text: "#1f2933",
  muted: "#52606d",
  faint: "#7b8794",
  line: "#dde2e8",
  subtle: "#f5f7f9",
  font:
    "-apple-system,BlinkMacSystemFont,Segoe UI,Roboto,Helvetica,Arial,sans-serif",
  mono: "ui-monospace,SFMono-Regular,Menlo,Consolas,Liberation Mono,monospace",
} as const;

/** Lets any cell content wrap instead of widening the layout. */
export const WRAP = "overflow-wrap:anywhere;word-break:break-word;";

/** The shape a value is shown as. */
export type DataShape =
  | { kind: "empty"; label: string }
  | { kind: "scalar"; text: string; muted: boolean }
  | { kind: "string"; text: string; more: number }
  | { kind: "deep"; text: string; more: number }
  | { kind: "object"; entries: [string, unknown][]; more: number }
  | {
    kind: "table";
    columns: string[];
    rows: Record<string, unknown>[];
    more: number;
  }
  | { kind: "records"; rows: Record<string, unknown>[]; more: number }
  | { kind: "list"; items: unknown[]; more: number };

/** Decides how a value is shown; shared by the HTML and the plain-text renderers. */
export function dataShape(value: unknown, depth: number): DataShape {
  if (value === null) return { kind: "scalar", text: "null", muted: true };
  if (value === undefined) return { kind: "scalar", text: "—", muted: true };
  if (typeof value === "string") return { kind: "string", ...cap(value) };
  if (typeof value !== "object") {
    return { kind: "scalar", text: String(value), muted: false };
  }
  if (value instanceof Date) {
    return { kind: "scalar", text: dateText(value), muted: false };
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return { kind: "empty", label: "(none)" };
    if (depth >= DATA_LIMITS.depth) {
      return { kind: "deep", ...cap(safeJson(value)) };
    }
    const shown = value.slice(0, DATA_LIMITS.rows);
    const more = value.length - shown.length;
    if (value.every(isRecord)) {
      const keys = new Set<string>();
      for (const row of shown) {
        for (const key of Object.keys(row)) keys.add(key);
      }
      const all = [...keys];
      return all.length > DATA_LIMITS.columns
        ? { kind: "records", rows: shown, more }
        : { kind: "table", columns: all, rows: shown, more };
    }
    return { kind: "list", items: shown, more };
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return { kind: "empty", label: "(empty)" };
  if (depth >= DATA_LIMITS.depth) {
    return { kind: "deep", ...cap(safeJson(value)) };
  }
  const shown = entries.slice(0, DATA_LIMITS.rows);
  return {
    kind: "object",
    entries: shown,
    more: entries.length - shown.length,
  };
}

/** Pretty JSON that never throws (a cycle becomes text); big integers keep every digit, unquoted. */
export function safeJson(value: unknown, indent?: number): string {
  try {
    return value === undefined ? String(value) : stringifyJson(value, indent);
  } catch {
    return String(value);
  }
}

/** Shows one value: a table, a list, preformatted text or plain text. */
export function DataView(
  { value, depth = 0 }: { value: unknown; depth?: number },
): JSX.Element {
  const shape = dataShape(value, depth);
  switch (shape.kind) {
    case "empty":
      return <span style={`color:${THEME.faint};`}>{shape.label}</span>;
    case "scalar":
      return (
        <span style={`${WRAP}${shape.muted ? `color:${THEME.faint};` : ""}`}>
          {shape.text}
        </span>
      );
    case "string":
      return depth === 0 || shape.text.includes("\n")
        ? (
          <>
            <pre style={PRE}>{shape.text}</pre>
            <More count={shape.more} what="more characters" />
          </>
        )
        : (
          <span style={`white-space:pre-wrap;${WRAP}`}>
            {shape.text}
            <More count={shape.more} what="more characters" inline />
          </span>
        );
    case "deep":
      return (
        <>
          <pre style={PRE}>{shape.text}</pre>
          <More count={shape.more} what="more characters" />
        </>
      );
    case "object":
      return (
        <>
          <KeyValueTable entries={shape.entries} depth={depth + 1} />
          <More count={shape.more} what="more keys" />
        </>
      );
    case "table": {
      const small = shape.columns.length > 4 ? SMALL : "";
      return (
        <>
          <table cellPadding="0" cellSpacing="0" style={`${TABLE}${small}`}>
            <tr>
              {shape.columns.map((column) => (
                <th key={column} scope="col" style={`${HEAD}${small}`}>
                  {column}
                </th>
              ))}
            </tr>
            {shape.rows.map((row, i) => (
              <tr key={i}>
                {shape.columns.map((column) => (
                  <td key={column} style={`${DATA}${small}`}>
                    {Object.hasOwn(row, column)
                      ? <DataView value={row[column]} depth={depth + 1} />
                      : null}
                  </td>
                ))}
              </tr>
            ))}
          </table>
          <More count={shape.more} what="more rows" />
        </>
      );
    }
    case "records":
      return (
        <>
          {shape.rows.map((row, i) => (
            <div key={i} style="margin:0 0 10px 0;">
              <div
                style={`margin:0 0 3px 0;font-size:11px;font-weight:600;color:${THEME.faint};`}
              >
                {`Row ${i + 1} of ${shape.rows.length + shape.more}`}
              </div>
              <DataView value={row} depth={depth + 1} />
            </div>
          ))}
          <More count={shape.more} what="more rows" />
        </>
      );
    case "list":
      return (
        <>
          <ul style={`margin:0;padding:0 0 0 20px;${WRAP}`}>
            {shape.items.map((item, i) => (
              <li key={i} style="margin:0 0 4px 0;">
                <DataView value={item} depth={depth + 1} />
              </li>
            ))}
          </ul>
          <More count={shape.more} what="more items" />
        </>
      );
  }
}

/** A two-column table of names and values; a nested table or block gets the full width below its name. */
export function KeyValueTable(
  { entries, depth = 1 }: { entries: [string, unknown][]; depth?: number },
): JSX.Element {
  return (
    <table role="presentation" cellPadding="0" cellSpacing="0" style={TABLE}>
      {entries.map(([key, item], i) =>
        isBlock(dataShape(item, depth))
          ? (
            <Fragment key={i}>
              <tr>
                <th colSpan={2} style={HEAD}>{key}</th>
              </tr>
              <tr>
                <td colSpan={2} style={DATA}>
                  <DataView value={item} depth={depth} />
                </td>
              </tr>
            </Fragment>
          )
          : (
            <tr key={i}>
              <th scope="row" style={`${HEAD}width:32%;`}>{key}</th>
              <td style={DATA}>
                <DataView value={item} depth={depth} />
              </td>
            </tr>
          )
      )}
    </table>
  );
}

/** Shapes that read better with the full width than squeezed into a value column. */
function isBlock(shape: DataShape): boolean {
  switch (shape.kind) {
    case "table":
    case "records":
    case "object":
    case "deep":
      return true;
    case "string":
      return shape.text.includes("\n") || shape.text.length > 120;
    default:
      return false;
  }
}

const PRE =
  `margin:0;padding:8px 10px;background:${THEME.subtle};border:1px solid ${THEME.line};border-radius:4px;font-family:${THEME.mono};font-size:12px;line-height:1.5;color:${THEME.text};white-space:pre-wrap;word-break:break-all;overflow-wrap:anywhere;`;
const TABLE =
  `width:100%;max-width:100%;border-collapse:collapse;border:1px solid ${THEME.line};font-size:13px;line-height:1.45;`;
const CELL =
  `padding:5px 8px;border:1px solid ${THEME.line};vertical-align:top;text-align:left;${WRAP}`;
/** Tighter cells for tables with many columns (later declarations win in a style attribute). */
const SMALL = "font-size:12px;padding:4px 6px;";
const DATA = `${CELL}color:${THEME.text};`;
const HEAD =
  `${CELL}background:${THEME.subtle};color:${THEME.muted};font-weight:600;`;

function More(
  { count, what, inline }: { count: number; what: string; inline?: boolean },
) {
  if (count <= 0) return null;
  const style = `color:${THEME.faint};font-size:12px;font-style:italic;`;
  const text = `… ${count} ${what}`;
  return inline
    ? <span style={style}>{` ${text}`}</span>
    : <div style={`${style}margin-top:4px;`}>{text}</div>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Date);
}

function cap(text: string): { text: string; more: number } {
  return text.length > DATA_LIMITS.chars
    ? {
      text: text.slice(0, DATA_LIMITS.chars),
      more: text.length - DATA_LIMITS.chars,
    }
    : { text, more: 0 };
}

function dateText(date: Date): string {
  return Number.isNaN(date.getTime()) ? "Invalid Date" : date.toISOString();
}
