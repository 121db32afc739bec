/**
 * Running a button: its steps in order with results chained, the run recorded under the token's nonce,
 * the issue keys of jira_create steps saved on the alert, and a follow-up email threaded under the alert's
 * Message-ID that says who ran what.
 *
 * @module
 */
import { runSteps } from "../core/pipeline/actions.ts";
import { errorMessage } from "../core/plugins/call.ts";
import type { OutgoingMessage } from "../core/delivery/delivery.ts";
import type { ConfigReads } from "../core/plugin.ts";
import { uuidv7 } from "../core/ids.ts";
import {
  messageIdOf,
  recipients,
  type Runtime,
  settingsFor,
} from "../core/pipeline/pipeline.ts";
import { redact } from "../core/secrets.ts";
import type { ActionResult, ActionRun } from "../core/store/store.ts";
import { headerSafe } from "../core/headers.ts";
import { renderFollowUpEmail } from "../emails/render.ts";
import type { RunModel } from "./pages/ActionPages.tsx";
import { runModel } from "./_action_pages.ts";
import { alertOf, sendValues, type Target } from "./_action_target.ts";

/** The run recorded under the token's nonce, if it was used before. */
export async function findRun(
  runtime: Runtime,
  target: Target,
): Promise<ActionRun | undefined> {
  const runs = await runtime.store.listActionRuns(target.record.id);
  return runs.find((run) => run.nonce === target.claims.nonce);
}

/** Runs the button's steps, records the outcome, saves Jira keys and sends the follow-up email. */
export async function execute(
  runtime: Runtime,
  target: Target,
  run: ActionRun,
  now: () => number,
): Promise<RunModel> {
  let steps: ActionResult[];
  try {
    steps = await runButton(runtime, target);
  } catch (err) {
    steps = [{
      name: "blitz",
      status: "error",
      error: redact(errorMessage(err)),
    }];
  }
  const status =
    steps.some((s) => s.status === "error" || s.status === "timeout")
      ? "error"
      : "ok";
  const finished = {
    ...run,
    steps,
    status,
    finished_at: new Date(now()).toISOString(),
  } satisfies ActionRun;
  await runtime.store.finishActionRun(run.nonce, {
    steps,
    status,
    finished_at: finished.finished_at,
  });
  await saveJiraKeys(runtime, target, steps);
  const followUp = await sendFollowUp(runtime, target, finished);
  runtime.log("action_run", {
    alert_id: target.record.id,
    detector: target.detector.name,
    button: target.button.name,
    actor: run.actor,
    actor_source: run.actor_source,
    client_ip: run.client_ip,
    status,
    steps: steps.map((s) => `${s.name}:${s.status}`).join(","),
  });
  return runModel(target, finished, followUp);
}

/** Runs the button's steps in order, results chained by return_name; stops at the first failure. */
async function runButton(
  runtime: Runtime,
  target: Target,
): Promise<ActionResult[]> {
  const message = target.record.message;
  const settings = (
    plugin: { name: string; reads?: ConfigReads | undefined },
  ): Record<string, unknown> => {
    const own = settingsFor(runtime.config, target.detector, plugin);
    // forward_mail (built in, in-process) sends through Blitz's own delivery.
    if (plugin.name !== "forward_mail" || !message) return own;
    return {
      ...own,
      message,
      send: (m: OutgoingMessage) => runtime.delivery.send(m),
    };
  };
  return await runSteps(target.button.config.actions, {
    alert: await alertOf(target),
    alertId: target.record.id,
    detector: target.detector.name,
    registry: runtime.registry,
    settingsFor: settings,
    values: sendValues(target.record),
    stopOnError: true,
    ...(runtime.invoker ? { invoker: runtime.invoker } : {}),
  });
}

/** Adds the issue keys returned by jira_create steps to the alert record. */
async function saveJiraKeys(
  runtime: Runtime,
  target: Target,
  steps: ActionResult[],
): Promise<void> {
  const { registry, store } = runtime;
  const keys = steps.filter((s) => {
    if (s.status !== "ok" || typeof s.value !== "string") return false;
    try {
      return registry.action(s.name).name === "jira_create";
    } catch {
      return false;
    }
  }).map((s) => s.value as string);
  if (keys.length === 0) return;
  const current = await store.getAlert(target.record.id);
  const merged = [...new Set([...(current?.jira_keys ?? []), ...keys])];
  await store.updateAlert(target.record.id, { jira_keys: merged });
}

/** Sends "who ran what" to the alert's recipients, threaded under its Message-ID; returns what happened. */
async function sendFollowUp(
  runtime: Runtime,
  target: Target,
  run: ActionRun,
): Promise<string> {
  const { config } = runtime;
  const { record, detector, button } = target;
  const fallback = recipients(config, detector);
  const to = record.to ?? fallback.to;
  const cc = record.cc ?? fallback.cc;
  if (to.length + cc.length === 0) {
    return "not sent: the alert has no recipients";
  }
  const parent = record.message_id ?? messageIdOf(config, record.id);
  const actor = run.actor_source === "claimed"
    ? `${run.actor} (claimed)`
    : run.actor;
  const { html, text } = renderFollowUpEmail({
    title: `${button.name}: ${run.status === "ok" ? "done" : "failed"}`,
    actor,
    button: button.name,
    at: run.started_at,
    steps: run.steps.map((s) => ({
      name: s.return_name ? `${s.name} → ${s.return_name}` : s.name,
      status: s.status,
      ...(s.value !== undefined ? { value: s.value } : {}),
      ...(s.error !== undefined ? { error: s.error } : {}),
    })),
  });
  const subject = headerSafe(record.subject ?? detector.name);
  try {
    await runtime.delivery.send({
      from: record.message?.from ?? headerSafe(config.global.from_email),
      to,
      cc,
      subject: /^re:/i.test(subject) ? subject : `Re: ${subject}`,
      html,
      text,
      messageId: `<${uuidv7()}@${new URL(config.global.public_url).hostname}>`,
      inReplyTo: parent,
      references: [parent],
      headers: {
        "X-Blitz-Alert-Id": record.id,
        "X-Blitz-Detector": detector.name,
      },
    });
    return `sent to ${to.length + cc.length} recipient${
      to.length + cc.length === 1 ? "" : "s"
    }`;
  } catch (err) {
    runtime.log("action_followup_failed", {
      alert_id: record.id,
      error: redact(errorMessage(err)),
    });
    return "not sent: delivery failed";
  }
}
