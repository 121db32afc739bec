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
import { DataView, KeyValueTable, safeJson, THEME, WRAP } from "./DataView.tsx";
import { Buttons, type EmailButton } from "./Buttons.tsx";
import {
  type EmailEnrichment,
  EnrichmentSection,
} from "./EnrichmentSection.tsx";
import { formatTime } from "./_format.ts";
import { Header } from "./_Header.tsx";
import { Document, Footer, GroupLabel, Row } from "./_Layout.tsx";
import { Heading, normalizeStatus, STATUS } from "./_Status.tsx";

export { buttonColors, type EmailButton, safeHref } from "./Buttons.tsx";
export {
  type EmailEnrichment,
  enrichmentMessage,
} from "./EnrichmentSection.tsx";
export { formatSeconds, formatTime } from "./_format.ts";
export { STATUS_LABELS } from "./_Status.tsx";

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
      <Header
        kicker={`Blitz alert · ${model.detector}`}
        title={title}
        meta={[["Detector", model.detector], ["Alert ID", model.alertId], [
          "Received",
          formatTime(model.receivedAt),
        ]]}
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
      {model.buttons.length > 0 ? <Buttons buttons={model.buttons} /> : null}
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
