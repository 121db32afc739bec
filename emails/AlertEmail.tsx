/**
 * The alert email and the follow-up email sent after a reply button ran, as Preact components.
 *
 * Email-client safe: table layout, inline styles only, nothing loaded from anywhere, a 600 px column
 * that shrinks to the screen, and every long value wraps. Every value is text; links are http(s) only.
 *
 * This file composes the sections: the frame (`_Layout.tsx`), the header (`_Header.tsx`), the
 * enrichment cards (`EnrichmentSection.tsx`, with the status badges of `_Status.tsx`) and the reply
 * buttons (`Buttons.tsx`).
 *
 * @module
 */
import type { JSX } from "preact";
import { DataView, KeyValueTable, THEME, WRAP } from "./DataView.tsx";
import { Buttons, type EmailButton } from "./Buttons.tsx";
import {
  type EmailEnrichment,
  EnrichmentSection,
} from "./EnrichmentSection.tsx";
import { formatTime } from "./_format.ts";
import { Header } from "./_Header.tsx";
import { Document, Footer, GroupLabel, Row } from "./_Layout.tsx";
import { Heading, normalizeStatus, STATUS } from "./_Status.tsx";
import { rawJson } from "./_format.ts";
import type { Level } from "../core/severity.ts";

export { buttonColors, type EmailButton, safeHref } from "./Buttons.tsx";
export {
  type EmailEnrichment,
  enrichmentMessage,
} from "./EnrichmentSection.tsx";
export { formatSeconds, formatTime, rawJson } from "./_format.ts";
export { STATUS_LABELS } from "./_Status.tsx";

/** Everything the alert email shows. */
export interface EmailModel {
  title: string;
  subject: string;
  detector: string;
  alertId: string;
  /** The alert's page (`{public_url}/alerts/<id>`), linked from the email. */
  alertUrl?: string;
  /** ISO time the alert arrived. */
  receivedAt: string;
  /** The detector's level for the alert, shown as a coloured badge at the top. */
  severity?: Level;
  /** The fields an analyst reads first (host, IP, user…), as `[label, value]`, at the top. */
  keyFields?: [string, string][];
  /** The condition block that matched (CEL source). */
  condition?: string;
  /** E.g. "No enrichment condition matched this alert". */
  conditionNote?: string;
  enrichments: EmailEnrichment[];
  /** Enrichments not run because their condition block did not match: one quiet line. */
  notRun?: string[];
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
  // Disabled enrichments (`enabled: false`) were not run: not shown at all.
  const enrichments = model.enrichments.filter((e) => e.status !== "skipped");
  const notRun = model.notRun ?? [];
  return (
    <Document title={model.subject || title}>
      <Header
        kicker={`Blitz alert · ${model.detector}`}
        title={title}
        {...(model.severity ? { severity: model.severity } : {})}
        keyFields={model.keyFields ?? []}
        meta={metaRows(model)}
        {...(model.alertUrl ? { link: model.alertUrl } : {})}
      >
        {model.conditionNote
          ? (
            <div
              style={`margin-top:12px;padding:8px 12px;background:#eef3f8;border-left:3px solid #7c93ad;color:${THEME.text};font-size:13px;${WRAP}`}
            >
              {model.conditionNote}
            </div>
          )
          : null}
      </Header>
      {model.buttons.length > 0 ? <Buttons buttons={model.buttons} /> : null}
      {enrichments.length > 0 ? <GroupLabel>Enrichments</GroupLabel> : null}
      {enrichments.map((e, i) => <EnrichmentSection key={i} enrichment={e} />)}
      {notRun.length > 0
        ? (
          <Row>
            <div style={`font-size:12px;color:${THEME.faint};${WRAP}`}>
              {`Not run (their condition did not match): ${notRun.join(", ")}`}
            </div>
          </Row>
        )
        : null}
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
      {model.alertJson !== undefined
        ? <AlertData value={model.alertJson} link={model.alertUrl} />
        : null}
      <Footer>
        Sent by Blitz for alert{" "}
        {model.alertId}. The buttons are signed action links that work for
        anyone who has this email: please do not forward it.
      </Footer>
    </Document>
  );
}

/** The metadata rows under the key fields: the subject line, where the alert came from, the condition. */
export function metaRows(model: EmailModel): [string, string][] {
  return [
    ["Subject", model.subject],
    ["Detector", model.detector],
    ["Alert ID", model.alertId],
    ["Received", formatTime(model.receivedAt)],
    ...(model.condition
      ? [["Condition", model.condition] as [string, string]]
      : []),
  ];
}

/** The alert as nested tables, then its raw JSON cut to its first lines with its size. */
function AlertData(
  { value, link }: { value: unknown; link?: string | undefined },
) {
  const raw = rawJson(value);
  return (
    <>
      <GroupLabel>Alert</GroupLabel>
      <Row>
        <DataView value={value} />
      </Row>
      <GroupLabel>Alert JSON</GroupLabel>
      <Row>
        <DataView value={raw.shown} />
        {raw.more > 0
          ? (
            <div
              style={`margin-top:4px;color:${THEME.faint};font-size:12px;font-style:italic;`}
            >
              {`… ${raw.more} more lines (${raw.size} in all)`}
              {link
                ? (
                  <>
                    {": the whole alert is on "}
                    <a href={link} style={`color:${THEME.muted};`}>its page</a>
                  </>
                )
                : null}
            </div>
          )
          : null}
      </Row>
    </>
  );
}

/** The follow-up email: who pressed which button, and what each step did. */
export function FollowUpEmail(
  { model }: { model: FollowUpModel },
): JSX.Element {
  return (
    <Document title={model.title}>
      <Header
        kicker={`Blitz action · ${model.button}`}
        title={model.title}
        meta={[["Button", model.button], ["Pressed by", model.actor], [
          "At",
          formatTime(model.at),
        ]]}
      />
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
