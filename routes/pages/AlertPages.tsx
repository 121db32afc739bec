/**
 * Alert pages for analysts: the list of recent alerts with filters, and one alert with its data,
 * enrichments, the email sent, the action audit trail and its Jira keys. No scripts; filters are a GET form.
 *
 * @module
 */
import type { JSX } from "preact";
import { formatTime } from "../../emails/AlertEmail.tsx";
import { DataView } from "../../emails/DataView.tsx";
import {
  type AlertDetailModel,
  AuditTrail,
  EmailSummary,
  EnrichmentTable,
  JiraKeys,
  Redeliver,
  SendActionTable,
} from "./_AlertDetail.tsx";
import { ChannelTable } from "./_ChannelTable.tsx";
import { type AlertListModel, AlertTable } from "./_AlertTable.tsx";
import { AlertFilter } from "./_AlertFilter.tsx";
import { GroupTable } from "./_GroupTable.tsx";
import {
  Badge,
  Card,
  Facts,
  Page,
  renderPage,
  SeverityBadge,
} from "./Page.tsx";

export type { AlertDetailModel, AuditRow, JiraLink } from "./_AlertDetail.tsx";
export type { AlertListModel, AlertRow } from "./_AlertTable.tsx";
export type { GroupRow, GroupState } from "./_GroupTable.tsx";

/**
 * The alert list: the filter form, then one row per storm fingerprint (or the alerts of one storm,
 * or every alert with `view=alerts`), and a link to the next page.
 */
export function AlertListPage(
  { model }: { model: AlertListModel },
): JSX.Element {
  const flatHref = `${model.listHref}?${new URLSearchParams({
    ...Object.fromEntries(
      Object.entries(model.filter).filter(([k, v]) =>
        v && k !== "fingerprint" && k !== "view" && k !== "state"
      ),
    ),
    view: "alerts",
  })}`;
  return (
    <Page
      title={model.storm ? `Storm: ${model.storm.keyFields}` : "Recent alerts"}
      kicker={`Blitz · ${model.user}`}
    >
      <Card>
        <AlertFilter
          action={model.listHref}
          filter={model.filter}
          detectors={model.detectors}
          severities={model.severities}
          statuses={model.statuses}
          reasons={model.reasons}
          {...(model.states ? { states: model.states } : {})}
        />
      </Card>
      <Card>
        <p class="muted" style="margin-top:0;">
          {model.storm
            ? (
              <>
                {`${model.storm.detector}: ${model.storm.total} alerts of this fingerprint in all · `}
                <a href={model.storm.groupsHref}>All storms</a>
              </>
            )
            : model.groups
            ? (
              <>
                {"One row per storm fingerprint · "}
                <a href={flatHref}>every alert</a>
              </>
            )
            : (
              <>
                {"Every alert · "}
                <a href={model.listHref}>grouped by storm</a>
              </>
            )}
          {" · "}
          <a href={model.silencesHref}>
            Silences and acks
          </a>
        </p>
        {model.groups
          ? <GroupTable rows={model.groups} />
          : <AlertTable rows={model.rows ?? []} />}
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
    ...(model.severity
      ? [[
        "Severity",
        <SeverityBadge key="severity" level={model.severity} />,
      ] as [string, JSX.Element]]
      : []),
    ["Received", formatTime(model.receivedAt)],
    ["Updated", formatTime(model.updatedAt)],
    ["Delivery attempts", String(model.attempts)],
  ];
  if (model.storm?.suppressedBy) {
    facts.push([
      "Suppressed by",
      <span key="storm">
        {model.storm.suppressedBy}
        {model.storm.notifiedHref
          ? (
            <>
              {" · covered by the email of "}
              <a href={model.storm.notifiedHref}>{model.storm.notifiedId}</a>
            </>
          )
          : " · stored and counted, not mailed"}
        {model.storm.silenceId ? ` · silence ${model.storm.silenceId}` : ""}
      </span>,
    ]);
  }
  if (model.storm?.fingerprint) {
    facts.push([
      "Fingerprint",
      model.storm.fingerprintHref
        ? (
          <a key="fp" href={model.storm.fingerprintHref}>
            {`${model.storm.fingerprint} · every alert of this storm`}
          </a>
        )
        : model.storm.fingerprint,
    ]);
  }
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
        <Redeliver model={model} />
      </Card>
      {model.channels?.length
        ? (
          <Card heading="Channels">
            <ChannelTable rows={model.channels} />
          </Card>
        )
        : null}
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
