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
import { dataShape } from "./DataView.tsx";

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
      out.push(...field(r.name, r.value, { indent: "", depth: 1 }));
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
  const shape = dataShape(value, depth);
  const more = (count: number, what: string) =>
    count > 0 ? [`${indent}… ${count} ${what}`] : [];
  switch (shape.kind) {
    case "empty":
      return [indent + shape.label];
    case "scalar":
      return [indent + shape.text];
    case "string":
    case "deep":
      return [
        ...shape.text.split("\n").map((line) => indent + line),
        ...more(shape.more, "more characters"),
      ];
    case "object":
      return [
        ...shape.entries.flatMap(([key, item]) =>
          field(key, item, { indent, depth: depth + 1 })
        ),
        ...more(shape.more, "more keys"),
      ];
    case "table":
      return [
        ...shape.rows.flatMap((row) => {
          const lines = shape.columns.filter((c) => Object.hasOwn(row, c))
            .flatMap((c) =>
              field(c, row[c], { indent: `${indent}  `, depth: depth + 1 })
            );
          return lines.length > 0
            ? [
              `${indent}- ${lines[0]!.slice(indent.length + 2)}`,
              ...lines.slice(1),
            ]
            : [`${indent}-`];
        }),
        ...more(shape.more, "more rows"),
      ];
    case "records":
    case "list":
      return [
        ...(shape.kind === "list" ? shape.items : shape.rows).flatMap(
          (item) => {
            const lines = dataText(item, {
              indent: `${indent}  `,
              depth: depth + 1,
            });
            return [
              `${indent}- ${lines[0]?.slice(indent.length + 2) ?? ""}`,
              ...lines.slice(1),
            ];
          },
        ),
        ...more(shape.more, shape.kind === "list" ? "more items" : "more rows"),
      ];
  }
}

/** `key: value` on one line when the value fits, else `key:` and the value indented below. */
function field(
  key: string,
  value: unknown,
  { indent, depth }: { indent: string; depth: number },
): string[] {
  const lines = dataText(value, { indent: indent + INDENT, depth });
  const shape = dataShape(value, depth);
  const oneLine = lines.length === 1 &&
    (shape.kind === "scalar" || shape.kind === "string" ||
      shape.kind === "empty");
  return oneLine
    ? [`${indent}${key}: ${lines[0]!.slice(indent.length + INDENT.length)}`]
    : [`${indent}${key}:`, ...lines];
}

function heading(text: string): string[] {
  return [text.toUpperCase(), "-".repeat(text.length)];
}
