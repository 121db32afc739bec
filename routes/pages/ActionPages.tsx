/**
 * Pages of the one-click action links: the confirmation page (one POST form, never submitted by
 * itself), the result page, the "already done" page and the refusal pages. No scripts, no meta refresh.
 *
 * @module
 */
import type { JSX } from "preact";
import { buttonColors, formatTime } from "../../emails/AlertEmail.tsx";
import { DataView } from "../../emails/DataView.tsx";
import { Badge, Card, Facts, Page, renderPage } from "./Page.tsx";

/** One step a button will run, placeholders filled as far as they can be before it runs. */
export interface StepPreview {
  name: string;
  returnName?: string;
  enabled: boolean;
  /** The step's config, secrets masked. */
  config: unknown;
}

/** Who is acting: from the sign-in proxy's header, or a name the person types (recorded as claimed). */
export type ActorModel =
  | { source: "trusted_header"; name: string }
  | { source: "claimed"; value?: string };

/** Everything the confirmation page shows. */
export interface ConfirmModel {
  detector: string;
  alertId: string;
  subject: string;
  /** ISO time the alert arrived. */
  receivedAt: string;
  /** Key fields of the alert, as name and value. */
  fields: [string, unknown][];
  button: string;
  /** Hex color of the button. */
  color: string;
  steps: StepPreview[];
  /** Absolute URL the form posts to (built from public_url). */
  formAction: string;
  /** The CSRF field, bound to the token. */
  csrf: string;
  actor: ActorModel;
  /** ISO time the link expires. */
  expiresAt: string;
  /** Shown above the form, e.g. "Enter your name". */
  error?: string;
}

/** One step's outcome as shown on a page. */
export interface StepOutcome {
  name: string;
  status: string;
  return_name?: string;
  value?: unknown;
  error?: string;
  ms?: number;
}

/** A recorded run of a button: the result page and the "already done" page. */
export interface RunModel {
  button: string;
  detector: string;
  subject: string;
  alertId: string;
  actor: string;
  actorSource: string;
  /** ISO time the button was confirmed. */
  startedAt: string;
  finishedAt?: string;
  status: string;
  steps: StepOutcome[];
  /** What happened to the follow-up email, e.g. "sent to 2 recipients". */
  followUp?: string;
}

/** A refusal or notice page: 403, 404, 410, 429, 400, 500. */
export interface MessageModel {
  title: string;
  message: string;
  detail?: string;
}

function actorLabel(actor: string, source: string): string {
  return source === "claimed"
    ? `${actor} (name given on the form, not verified)`
    : actor;
}

/** The confirmation page: what will run, and one POST form. */
export function ConfirmPage({ model }: { model: ConfirmModel }): JSX.Element {
  const colors = buttonColors(model.color);
  return (
    <Page
      title={`Confirm: ${model.button}`}
      kicker={`Blitz action · ${model.detector}`}
    >
      <Card heading="Alert">
        <Facts
          rows={[
            ["Subject", model.subject],
            ["Detector", model.detector],
            ["Alert ID", model.alertId],
            ["Received", formatTime(model.receivedAt)],
            ...model.fields.map((
              [name, value],
            ): [string, JSX.Element] => [
              name,
              <DataView key={name} value={value} depth={1} />,
            ]),
          ]}
        />
      </Card>
      <Card heading={`Steps of “${model.button}”`}>
        <ol style="margin:0;padding-left:20px;">
          {model.steps.map((step, i) => (
            <li key={i} style="margin-bottom:12px;">
              <strong>{step.name}</strong>
              {step.returnName
                ? <span class="muted">{` → {${step.returnName}}`}</span>
                : null}
              {step.enabled
                ? null
                : <span class="muted">(disabled, will be skipped)</span>}
              <div style="margin-top:4px;">
                <DataView value={step.config} depth={1} />
              </div>
            </li>
          ))}
        </ol>
        <p class="muted" style="margin:0;">
          Placeholders such as {"{jira_id}"}{" "}
          are filled with the results of earlier steps when they run.
        </p>
      </Card>
      <Card heading="Confirm">
        {model.error ? <p class="warn">{model.error}</p> : null}
        <form method="post" action={model.formAction}>
          <input type="hidden" name="csrf" value={model.csrf} />
          {model.actor.source === "trusted_header"
            ? (
              <p style="margin-top:0;">
                Signed in as <strong>{model.actor.name}</strong>.
              </p>
            )
            : (
              <p style="margin-top:0;">
                <label for="actor">Your name</label>
                <input
                  type="text"
                  id="actor"
                  name="actor"
                  required
                  maxLength={100}
                  autocomplete="name"
                  value={model.actor.value ?? ""}
                />
                <span
                  class="muted"
                  style="display:block;font-size:13px;margin-top:4px;"
                >
                  Recorded in the audit trail as given (not verified).
                </span>
              </p>
            )}
          <button
            type="submit"
            style={`background:${colors.background};color:${colors.text};`}
          >
            {`Run “${model.button}”`}
          </button>
        </form>
        <p class="muted" style="margin:12px 0 0;font-size:13px;">
          The link works once and expires{" "}
          {formatTime(model.expiresAt)}. Opening it does nothing until you press
          the button.
        </p>
      </Card>
    </Page>
  );
}

function Steps({ steps }: { steps: StepOutcome[] }): JSX.Element {
  if (steps.length === 0) {
    return <p class="muted" style="margin:0;">No step has finished yet.</p>;
  }
  return (
    <table>
      <tr>
        <th>Step</th>
        <th>Status</th>
        <th>Result</th>
      </tr>
      {steps.map((step, i) => (
        <tr key={i}>
          <td>
            {step.name}
            {step.return_name
              ? <span class="muted">{` → {${step.return_name}}`}</span>
              : null}
          </td>
          <td>
            <Badge status={step.status} />
          </td>
          <td>
            {step.error !== undefined
              ? step.error
              : <DataView value={step.value ?? null} depth={1} />}
          </td>
        </tr>
      ))}
    </table>
  );
}

function RunFacts({ model }: { model: RunModel }): JSX.Element {
  const rows: [string, string | JSX.Element][] = [
    ["Button", model.button],
    ["By", actorLabel(model.actor, model.actorSource)],
    ["At", formatTime(model.startedAt)],
    ["Status", <Badge key="status" status={model.status} />],
    ["Alert", `${model.subject} (${model.alertId})`],
  ];
  if (model.followUp) rows.push(["Follow-up email", model.followUp]);
  return <Facts rows={rows} />;
}

/** The page after a button ran: each step's result. */
export function ResultPage({ model }: { model: RunModel }): JSX.Element {
  const title = model.status === "ok"
    ? `Done: ${model.button}`
    : `Failed: ${model.button}`;
  return (
    <Page title={title} kicker={`Blitz action · ${model.detector}`}>
      <Card>
        <RunFacts model={model} />
      </Card>
      <Card heading="Steps">
        <Steps steps={model.steps} />
      </Card>
    </Page>
  );
}

/** The 409 page: the link was used before; who used it, when, and what happened. */
export function AlreadyDonePage({ model }: { model: RunModel }): JSX.Element {
  const running = model.status === "running";
  return (
    <Page
      title={`Already ${running ? "running" : "done"}: ${model.button}`}
      kicker={`Blitz action · ${model.detector}`}
    >
      <Card>
        <p class="note" style="margin-top:0;">
          {running
            ? `This action is being run by ${model.actor} since ${
              formatTime(model.startedAt)
            }.`
            : `This action was already done by ${model.actor} at ${
              formatTime(model.startedAt)
            }.`} Nothing was run again.
        </p>
        <RunFacts model={model} />
      </Card>
      <Card heading="Steps">
        <Steps steps={model.steps} />
      </Card>
    </Page>
  );
}

/** A refusal or notice: expired, invalid, not found, too many requests. */
export function MessagePage({ model }: { model: MessageModel }): JSX.Element {
  return (
    <Page title={model.title} kicker="Blitz action">
      <Card>
        <p style="margin-top:0;">{model.message}</p>
        {model.detail
          ? <p class="muted" style="margin-bottom:0;">{model.detail}</p>
          : null}
      </Card>
    </Page>
  );
}

/** Renders the confirmation page to HTML. */
export function renderConfirmPage(model: ConfirmModel): string {
  return renderPage(ConfirmPage, { model });
}

/** Renders the result page to HTML. */
export function renderResultPage(model: RunModel): string {
  return renderPage(ResultPage, { model });
}

/** Renders the "already done" page to HTML. */
export function renderAlreadyDonePage(model: RunModel): string {
  return renderPage(AlreadyDonePage, { model });
}

/** Renders a refusal or notice page to HTML. */
export function renderMessagePage(model: MessageModel): string {
  return renderPage(MessagePage, { model });
}
