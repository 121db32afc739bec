/**
 * The plain-text part of the emails: the same information as the HTML, indented.
 *
 * @module
 */
import {
  type EmailModel,
  enrichmentMessage,
  type FollowUpModel,
  formatSeconds,
  formatTime,
  metaRows,
  rawJson,
  safeHref,
  STATUS_LABELS,
} from "./AlertEmail.tsx";
import { type DataShape, dataShape } from "./DataView.tsx";

const INDENT = "    ";

/** The plain-text part of the alert email: the same order as the HTML, what to read first at the top. */
export function alertText(model: EmailModel): string {
  const title = model.title || model.subject;
  const out = [title, "=".repeat(Math.min(Math.max(title.length, 3), 72)), ""];
  const rows: [string, string][] = [
    ...(model.severity
      ? [["Severity", model.severity.toUpperCase()] as [string, string]]
      : []),
    ...(model.keyFields ?? []),
    ...metaRows(model),
    ...(model.alertUrl
      ? [["Alert page", model.alertUrl] as [string, string]]
      : []),
    ...(model.conditionNote
      ? [["Note", model.conditionNote] as [string, string]]
      : []),
  ];
  const width = Math.min(
    Math.max(...rows.map(([name]) => name.length)) + 2,
    24,
  );
  for (const [name, value] of rows) {
    out.push(`${`${name}:`.padEnd(width)}${value}`);
  }
  if (model.buttons.length > 0) {
    out.push(
      "",
      ...heading("Respond"),
      "Each link opens a confirmation page; nothing runs until you confirm there.",
    );
    for (const b of model.buttons) {
      out.push("", b.label);
      if (b.description) out.push(INDENT + b.description);
      out.push(safeHref(b.href) ?? "(link unavailable)");
    }
  }
  const enrichments = model.enrichments.filter((e) => e.status !== "skipped");
  if (enrichments.length > 0) {
    out.push("", ...heading("Enrichments"));
    for (const e of enrichments) {
      const time = `, ${
        e.ms >= 1000 ? formatSeconds(e.ms) : `${Math.round(e.ms)} ms`
      }`;
      out.push("", `${e.name} [${STATUS_LABELS[e.status]}${time}]`);
      const message = enrichmentMessage(e);
      if (message !== undefined) out.push(INDENT + message);
      else if (e.data === undefined) out.push(`${INDENT}No data returned`);
      else out.push(...dataText(e.data, { indent: INDENT }));
    }
  }
  if ((model.notRun ?? []).length > 0) {
    out.push(
      "",
      `Not run (their condition did not match): ${model.notRun!.join(", ")}`,
    );
  }
  if (model.sendResults.length > 0) {
    out.push("", ...heading("Results"));
    for (const r of model.sendResults) {
      field(out, r.name, r.value, "", 1);
    }
  }
  if (model.alertJson !== undefined) {
    out.push("", ...heading("Alert"), ...dataText(model.alertJson));
    const raw = rawJson(model.alertJson);
    out.push("", ...heading("Alert JSON"), raw.shown);
    if (raw.more > 0) {
      out.push(
        `… ${raw.more} more lines (${raw.size} in all)${
          model.alertUrl ? `: the whole alert is on ${model.alertUrl}` : ""
        }`,
      );
    }
  }
  out.push(
    "",
    "--",
    `Sent by Blitz for alert ${model.alertId}. The links are signed action links that work for anyone who has this email: please do not forward it.`,
  );
  return out.join("\n") + "\n";
}

/** The plain-text part of the follow-up email. */
export function followUpText(model: FollowUpModel): string {
  const out = [
    model.title,
    "=".repeat(Math.min(Math.max(model.title.length, 3), 72)),
    "",
  ];
  out.push(
    `Button:      ${model.button}`,
    `Pressed by:  ${model.actor}`,
    `At:          ${formatTime(model.at)}`,
  );
  if (model.steps.length > 0) out.push("", ...heading("Steps"));
  for (const step of model.steps) {
    out.push("", `${step.name} [${step.status}]`);
    if (step.error !== undefined) out.push(INDENT + step.error);
    else out.push(...dataText(step.value, { indent: INDENT, depth: 1 }));
  }
  out.push("", "--", "Sent by Blitz after a reply button was confirmed.");
  return out.join("\n") + "\n";
}

/** Any value as indented lines, with the same shapes and caps as `DataView`. */
export function dataText(
  value: unknown,
  options: {
    /** Prefix of every line. @default "" */
    indent?: string;
    /** Nesting level of `value`, for the depth cap. @default 0 */
    depth?: number;
  } = {},
): string[] {
  const { indent = "", depth = 0 } = options;
  const out: string[] = [];
  shapeText(out, dataShape(value, depth), indent, depth);
  return out;
}

/**
 * Pushes the lines of a value already shaped (`dataShape`) onto `out`: each value's shape is decided
 * once, and nested values write into the same array (issue 17: the text part cost ~20 µs an email
 * when every level built, spread and sliced its own arrays and shaped each field twice).
 */
function shapeText(
  out: string[],
  shape: DataShape,
  indent: string,
  depth: number,
): void {
  const more = (count: number, what: string) => {
    if (count > 0) out.push(`${indent}… ${count} ${what}`);
  };
  switch (shape.kind) {
    case "empty":
      out.push(indent + shape.label);
      return;
    case "scalar":
      out.push(indent + shape.text);
      return;
    case "string":
    case "deep":
      for (const line of shape.text.split("\n")) out.push(indent + line);
      more(shape.more, "more characters");
      return;
    case "object":
      for (const [key, item] of shape.entries) {
        field(out, key, item, indent, depth + 1);
      }
      more(shape.more, "more keys");
      return;
    case "table":
      for (const row of shape.rows) {
        const at = out.length;
        for (const c of shape.columns) {
          if (Object.hasOwn(row, c)) {
            field(out, c, row[c], `${indent}  `, depth + 1);
          }
        }
        bullet(out, at, indent);
      }
      more(shape.more, "more rows");
      return;
    case "records":
    case "list":
      for (const item of shape.kind === "list" ? shape.items : shape.rows) {
        const at = out.length;
        shapeText(out, dataShape(item, depth + 1), `${indent}  `, depth + 1);
        bullet(out, at, indent);
      }
      more(shape.more, shape.kind === "list" ? "more items" : "more rows");
  }
}

/**
 * Makes the first line pushed since `at` (indented by `indent` and two spaces) a list item,
 * `${indent}- …`; a bare `${indent}-` when nothing was pushed.
 */
function bullet(out: string[], at: number, indent: string): void {
  if (out.length === at) out.push(`${indent}-`);
  else out[at] = `${indent}- ${out[at]!.slice(indent.length + 2)}`;
}

/** `key: value` on one line when the value fits, else `key:` and the value indented below. */
function field(
  out: string[],
  key: string,
  value: unknown,
  indent: string,
  depth: number,
): void {
  const shape = dataShape(value, depth);
  const at = out.length;
  shapeText(out, shape, indent + INDENT, depth);
  const oneLine = out.length === at + 1 &&
    (shape.kind === "scalar" || shape.kind === "string" ||
      shape.kind === "empty");
  if (oneLine) {
    out[at] = `${indent}${key}: ${
      out[at]!.slice(indent.length + INDENT.length)
    }`;
  } else out.splice(at, 0, `${indent}${key}:`);
}

function heading(text: string): string[] {
  return [text.toUpperCase(), "-".repeat(text.length)];
}
