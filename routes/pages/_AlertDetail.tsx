/**
 * Pieces of one alert's page: Jira keys, the enrichment and step-outcome tables, the email summary
 * and the action audit trail.
 *
 * @module
 */
import type { JSX } from "preact";
import { formatTime, safeHref } from "../../emails/AlertEmail.tsx";
import { DataView } from "../../emails/DataView.tsx";
import type { StepOutcome } from "./ActionPages.tsx";
import { Badge, Facts } from "./Page.tsx";
import type { ChannelRow } from "./_ChannelTable.tsx";

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
  /** The detector's severity level for the alert. */
  severity?: string;
  /** Storm control: its fingerprint, why it was not mailed, whose email covers it, the silence. */
  storm?: {
    fingerprint?: string;
    /** The storm's alerts (`/alerts?fingerprint=`). */
    fingerprintHref?: string;
    suppressedBy?: string;
    notifiedId?: string;
    notifiedHref?: string;
    silenceId?: string;
  };
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
  /** Deliveries to channels other than email. */
  channels?: ChannelRow[];
  /** The Redeliver button's form, while a delivery of the alert is failed. */
  redeliver?: { href: string; csrf: string };
  /** Who re-queued its failed deliveries, and when. */
  redeliveries?: { at: string; actor: string; source: string; what: string }[];
}

/** The Redeliver button (a POST form with its CSRF field) and the redeliveries so far. */
export function Redeliver({ model }: { model: AlertDetailModel }): JSX.Element {
  return (
    <>
      {model.redeliver
        ? (
          <form
            method="post"
            action={model.redeliver.href}
            style="margin:12px 0 0;"
          >
            <input type="hidden" name="csrf" value={model.redeliver.csrf} />
            <button type="submit" style="background:#1f5fbf;color:#fff;">
              Redeliver
            </button>{" "}
            <span class="muted">
              sends the failed email and channel messages again, as they were
            </span>
          </form>
        )
        : null}
      {(model.redeliveries ?? []).map((r, i) => (
        <p key={i} class="muted" style="margin:8px 0 0;">
          Redelivered ({r.what}) by {r.actor} ({r.source}), {formatTime(r.at)}
        </p>
      ))}
    </>
  );
}

/** Jira keys separated by commas, each linked when its link is safe. */
export function JiraKeys({ keys }: { keys: JiraLink[] }): JSX.Element {
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

/** Each enrichment with its function, timing and status, then its data or error. */
export function EnrichmentTable(
  { enrichments }: { enrichments: AlertDetailModel["enrichments"] },
): JSX.Element {
  return enrichments.length === 0
    ? <p class="muted" style="margin:0;">None.</p>
    : (
      <table>
        {enrichments.map((e, i) => (
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
    );
}

/** The send actions' outcomes: name and status, then value or error. */
export function SendActionTable(
  { actions }: { actions: StepOutcome[] },
): JSX.Element {
  return (
    <table>
      {actions.map((a, i) => (
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
  );
}

/** The email's headers and delivery result, then its plain-text part when kept. */
export function EmailSummary(
  { model }: { model: AlertDetailModel },
): JSX.Element {
  return (
    <>
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
    </>
  );
}

/** Every button run: when, which button, who, from where, and each step's outcome. */
export function AuditTrail({ runs }: { runs: AuditRow[] }): JSX.Element {
  return runs.length === 0
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
        {runs.map((run, i) => (
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
                ({run.actorSource})
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
                  {s.name} <Badge status={s.status} /> {s.error !== undefined
                    ? s.error
                    : <DataView value={s.value ?? null} depth={2} />}
                </div>
              ))}
            </td>
          </tr>
        ))}
      </table>
    );
}
