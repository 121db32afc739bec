/**
 * The pages of an action link that are more than a message: the confirmation page (key alert fields and
 * the button's steps with placeholders filled, credentials hidden) and the run model behind the result and
 * "already done" pages.
 *
 * @module
 */
import { colorOf } from "../core/config/config.ts";
import { actionLink, type Runtime } from "../core/pipeline/pipeline.ts";
import { buildUrl } from "../core/safe_fetch/safe_fetch.ts";
import { redactDeep } from "../core/secrets.ts";
import type { ActionRun } from "../core/store/store.ts";
import { fill, fillDeep } from "../core/template.ts";
import {
  type ActorModel,
  renderConfirmPage,
  type RunModel,
  type StepPreview,
} from "./pages/ActionPages.tsx";
import { csrfFor } from "../core/auth/csrf.ts";
import { alertOf, buttonLabel, sendValues } from "../core/pipeline/button.ts";
import type { Target } from "./_action_target.ts";

/** Alert fields shown on the confirmation page, at most. */
const KEY_FIELDS = 12;
const SECRET_KEY =
  /pass(word)?|secret|token|api[_-]?key|authori[sz]ation|credential|cookie/i;

/** Hides values of keys that look like credentials, on top of the registered-secret redaction. */
function maskSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskSecrets);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map((
        [k, v],
      ) => [
        k,
        SECRET_KEY.test(k) && v !== null && typeof v !== "object"
          ? "[hidden]"
          : maskSecrets(v),
      ]),
    );
  }
  return value;
}

/** The confirmation page of a target: what the button will do, and the form that does it. */
export async function confirmPage(
  runtime: Runtime,
  target: Target,
  actor: ActorModel,
  error?: string,
): Promise<string> {
  const { config } = runtime;
  const alert = await alertOf(target);
  const data = { ...alert, ...sendValues(target.record) };
  // The detector's key_fields (host, IP, user…) as the email showed them, then top-level values.
  const keyFields = Object.entries(target.detector.config.key_fields).map((
    [label, template],
  ): [string, unknown] => [label, fill(template, data)]);
  const fields = [...keyFields, ...Object.entries(alert)]
    .filter(([, v]) => v === null || typeof v !== "object")
    .slice(0, Math.max(KEY_FIELDS, keyFields.length))
    .map((
      [k, v],
    ): [string, unknown] => [
      k,
      SECRET_KEY.test(k) ? "[hidden]" : redactDeep(v),
    ]);
  const steps: StepPreview[] = target.button.config.actions.map((step) => {
    const { enabled, return_name, ...rest } = step.config;
    let shown: Record<string, unknown> = rest;
    if (typeof rest.url === "string") {
      try {
        shown = { ...rest, url: buildUrl(rest.url, data).href };
      } catch {
        // A URL that cannot be built yet (it needs a later step's value) is shown with its placeholders.
      }
    }
    return {
      name: step.name,
      ...(return_name ? { returnName: return_name } : {}),
      enabled,
      config: maskSecrets(redactDeep(fillDeep(shown, data))),
    };
  });
  return renderConfirmPage({
    detector: target.detector.name,
    alertId: target.record.id,
    subject: target.record.subject ?? "",
    receivedAt: target.record.received_at,
    fields,
    button: await buttonLabel(target),
    color: colorOf(config.global, target.button.config.color),
    steps,
    formAction: actionLink(config, target.token),
    csrf: await csrfFor(target.token, target.key),
    actor,
    expiresAt: new Date(target.claims.expiresAt).toISOString(),
    ...(error ? { error } : {}),
  });
}

/** The model of the result and "already done" pages for a run of the target's button. */
export function runModel(
  target: Target,
  run: ActionRun,
  followUp?: string,
): RunModel {
  return {
    button: run.button,
    detector: target.detector.name,
    subject: target.record.subject ?? "",
    alertId: target.record.id,
    actor: run.actor,
    actorSource: run.actor_source,
    startedAt: run.started_at,
    ...(run.finished_at ? { finishedAt: run.finished_at } : {}),
    status: run.status,
    steps: run.steps,
    ...(followUp ? { followUp } : {}),
  };
}
