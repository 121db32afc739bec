/**
 * Alert pages for analysts: the list of recent alerts with filters, and one alert with its data,
 * enrichments, the email sent, the action audit trail and its Jira keys. No scripts; filters are a GET form.
 *
 * @module
 */
import type { JSX } from "preact";
import { formatTime, safeHref } from "../AlertEmail.tsx";
import { DataView } from "../DataView.tsx";
import type { StepOutcome } from "./ActionPages.tsx";
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

function JiraKeys({ keys }: { keys: JiraLink[] }): JSX.Element {
  return (
    <span>
      {keys.map((k, i) => {
        const href = k.href ? safeHref(k.href) : undefined;
        return (
          <span key={i}>
            {i > 0 ? ", " : ""}
            {href
              ? <a href={href} rel="noreferrer noopener">{k.key}</a>
              : k.key}
          </span>
        );
      })}
    </span>
  );
}

/** The alert list with detector and status filters. */
export function AlertListPage(
  { model }: { model: AlertListModel },
): JSX.Element {
  return (
    <Page title="Recent alerts" kicker={`Blitz · ${model.user}`}>
      <Card>
        <form
          method="get"
          action={model.listHref}
          style="display:flex;gap:12px;align-items:flex-end;flex-wrap:wrap;"
        >
          <div>
            <label for="detector">Detector</label>
            <select id="detector" name="detector">
              <option value="">All</option>
              {model.detectors.map((d) => (
                <option
                  key={d}
                  value={d}
                  selected={d === model.filter.detector}
                >
                  {d}
                </option>
              ))}
            </select>
          </div>
          <div>
            <label for="status">Status</label>
            <select id="status" name="status">
              <option value="">All</option>
              {model.statuses.map((s) => (
                <option key={s} value={s} selected={s === model.filter.status}>
                  {s}
                </option>
              ))}
            </select>
          </div>
          <button type="submit" style="background:#2b6cb0;color:#fff;">
            Filter
          </button>
        </form>
      </Card>
      <Card>
        {model.rows.length === 0
          ? <p class="muted" style="margin:0;">No alerts match.</p>
          : (
            <table>
              <tr>
                <th>Received</th>
                <th>Detector</th>
                <th>Subject</th>
                <th>Status</th>
                <th>Jira</th>
              </tr>
              {model.rows.map((row) => (
                <tr key={row.id}>
                  <td style="white-space:nowrap;">
                    {formatTime(row.receivedAt)}
                  </td>
                  <td>{row.detector}</td>
                  <td>
                    <a href={row.href}>{row.subject || row.id}</a>
                  </td>
                  <td>
                    <Badge status={row.status} />
                  </td>
                  <td>{row.jiraKeys.join(", ")}</td>
                </tr>
              ))}
            </table>
          )}
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
        {model.enrichments.length === 0
          ? <p class="muted" style="margin:0;">None.</p>
          : (
            <table>
              {model.enrichments.map((e, i) => (
                <tr key={i}>
                  <td class="k">
                    {e.name} <span class="muted">({e.func}, {e.ms} ms)</span>
                    <div>
                      <Badge status={e.status} />
                    </div>
                  </td>
                  <td>
                    {e.error !== undefined
                      ? e.error
                      : <DataView value={e.data ?? null} depth={1} />}
                  </td>
                </tr>
              ))}
            </table>
          )}
      </Card>
      {model.sendActions.length > 0
        ? (
          <Card heading="Send actions">
            <table>
              {model.sendActions.map((a, i) => (
                <tr key={i}>
                  <td class="k">
                    {a.return_name ?? a.name} <Badge status={a.status} />
                  </td>
                  <td>
                    {a.error !== undefined
                      ? a.error
                      : <DataView value={a.value ?? null} depth={1} />}
                  </td>
                </tr>
              ))}
            </table>
          </Card>
        )
        : null}
      <Card heading="Email">
        <Facts
          rows={[
            ["Subject", model.subject ?? "—"],
            ["To", model.to.join(", ") || "—"],
            ["Cc", model.cc.join(", ") || "—"],
            ["Message-ID", model.messageId ?? "—"],
            [
              "Delivery",
              model.delivery
                ? `${model.delivery.status}${
                  model.delivery.error ? `: ${model.delivery.error}` : ""
                }`
                : "—",
            ],
          ]}
        />
        {model.emailText
          ? <pre style="margin-top:12px;">{model.emailText}</pre>
          : null}
      </Card>
      <Card heading="Action audit trail">
        {model.runs.length === 0
          ? <p class="muted" style="margin:0;">No button has been pressed.</p>
          : (
            <table>
              <tr>
                <th>When</th>
                <th>Button</th>
                <th>Who</th>
                <th>From</th>
                <th>Steps</th>
              </tr>
              {model.runs.map((run, i) => (
                <tr key={i}>
                  <td style="white-space:nowrap;">
                    {formatTime(run.startedAt)}
                    <div>
                      <Badge status={run.status} />
                    </div>
                  </td>
                  <td>{run.button}</td>
                  <td>
                    {run.actor}{" "}
                    <span class="muted">
                      ({run.actorSource === "claimed"
                        ? "claimed"
                        : run.actorSource})
                    </span>
                  </td>
                  <td>
                    {run.clientIp ?? "—"}
                    {run.userAgent
                      ? (
                        <div class="muted" style="font-size:12px;">
                          {run.userAgent}
                        </div>
                      )
                      : null}
                  </td>
                  <td>
                    {run.steps.map((s, j) => (
                      <div key={j}>
                        {s.name} <Badge status={s.status} />{" "}
                        {s.error !== undefined
                          ? s.error
                          : <DataView value={s.value ?? null} depth={2} />}
                      </div>
                    ))}
                  </td>
                </tr>
              ))}
            </table>
          )}
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
