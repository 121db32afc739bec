/**
 * Alert pages for analysts: the list of recent alerts with filters, and one alert with its data,
 * enrichments, the email sent, the action audit trail and its Jira keys. No scripts; filters are a GET form.
 *
 * @module
 */
import type { JSX } from "preact";
import { formatTime } from "../../emails/AlertEmail.tsx";
import { DataView } from "../../emails/DataView.tsx";
import type { StepOutcome } from "./ActionPages.tsx";
import {
  AuditTrail,
  EmailSummary,
  EnrichmentTable,
  JiraKeys,
  SendActionTable,
} from "./_AlertDetail.tsx";
import { AlertFilter, AlertTable } from "./_AlertTable.tsx";
import { Badge, Card, Facts, Page, renderPage } from "./Page.tsx";

/** One row of the alert list. */
export interface AlertRow {
  id: string;
  /** Absolute link to the alert page. */
  href: string;
  receivedAt: string;
  detector: string;
  subject: string;
  status: string;
  jiraKeys: string[];
}

/** Everything the alert list shows. */
export interface AlertListModel {
  /** Who is looking. */
  user: string;
  rows: AlertRow[];
  /** Detector names for the filter. */
  detectors: string[];
  /** Status names for the filter. */
  statuses: string[];
  filter: { detector?: string; status?: string };
  /** Absolute URL of the list (the filter form's action). */
  listHref: string;
  /** Link to the next, older page. */
  nextHref?: string;
}

/** A Jira key, linked when the Jira server is known. */
export interface JiraLink {
  key: string;
  href?: string;
}

/** One button run in the audit trail. */
export interface AuditRow {
  button: string;
  actor: string;
  actorSource: string;
  clientIp?: string;
  userAgent?: string;
  startedAt: string;
  finishedAt?: string;
  status: string;
  steps: StepOutcome[];
}

/** Everything one alert's page shows. */
export interface AlertDetailModel {
  user: string;
  listHref: string;
  id: string;
  detector: string;
  status: string;
  receivedAt: string;
  updatedAt: string;
  subject?: string;
  to: string[];
  cc: string[];
  messageId?: string;
  delivery?: {
    status: string;
    error?: string;
    path?: string;
    response?: string;
  };
  attempts: number;
  lastError?: string;
  condition?: string | null;
  /** The alert as received, secrets redacted. */
  alert: unknown;
  enrichments: {
    name: string;
    func: string;
    status: string;
    ms: number;
    data?: unknown;
    error?: string;
  }[];
  sendActions: StepOutcome[];
  /** The plain-text part of the email sent. */
  emailText?: string;
  runs: AuditRow[];
  jira: JiraLink[];
}

/** The alert list with detector and status filters. */
export function AlertListPage(
  { model }: { model: AlertListModel },
): JSX.Element {
  return (
    <Page title="Recent alerts" kicker={`Blitz · ${model.user}`}>
      <Card>
        <AlertFilter model={model} />
      </Card>
      <Card>
        <AlertTable rows={model.rows} />
        {model.nextHref
          ? (
            <p style="margin-bottom:0;">
              <a href={model.nextHref}>Older alerts</a>
            </p>
          )
          : null}
      </Card>
    </Page>
  );
}

/** One alert: data, enrichments, email, audit trail and Jira keys. */
export function AlertDetailPage(
  { model }: { model: AlertDetailModel },
): JSX.Element {
  const facts: [string, string | JSX.Element][] = [
    ["Alert ID", model.id],
    ["Detector", model.detector],
    ["Status", <Badge key="status" status={model.status} />],
    ["Received", formatTime(model.receivedAt)],
    ["Updated", formatTime(model.updatedAt)],
    ["Delivery attempts", String(model.attempts)],
  ];
  if (model.condition) facts.push(["Matched condition", model.condition]);
  if (model.lastError) facts.push(["Last error", model.lastError]);
  if (model.jira.length > 0) {
    facts.push(["Jira", <JiraKeys key="jira" keys={model.jira} />]);
  }
  return (
    <Page
      title={model.subject || model.id}
      kicker={`Blitz alert · ${model.detector} · ${model.user}`}
    >
      <Card>
        <p style="margin-top:0;">
          <a href={model.listHref}>All alerts</a>
        </p>
        <Facts rows={facts} />
      </Card>
      <Card heading="Alert data">
        <DataView value={model.alert} />
      </Card>
      <Card heading="Enrichments">
        <EnrichmentTable enrichments={model.enrichments} />
      </Card>
      {model.sendActions.length > 0
        ? (
          <Card heading="Send actions">
            <SendActionTable actions={model.sendActions} />
          </Card>
        )
        : null}
      <Card heading="Email">
        <EmailSummary model={model} />
      </Card>
      <Card heading="Action audit trail">
        <AuditTrail runs={model.runs} />
      </Card>
    </Page>
  );
}

/** Renders the alert list to HTML. */
export function renderAlertListPage(model: AlertListModel): string {
  return renderPage(AlertListPage, { model });
}

/** Renders one alert's page to HTML. */
export function renderAlertDetailPage(model: AlertDetailModel): string {
  return renderPage(AlertDetailPage, { model });
}
