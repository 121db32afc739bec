/**
 * The button run: a reply button's steps in order with results chained, the run recorded under the
 * token's nonce, the issue keys of jira_create steps saved on the alert, and a follow-up email threaded
 * under the alert's Message-ID that says who ran what. The door (`routes/actions.ts`) verifies the link,
 * consumes the nonce and turns the {@linkcode ButtonOutcome} into a page.
 *
 * @module
 */
import type { LoadedDetector } from "../config/config.ts";
import type { ReplyButton } from "../config/schema.ts";
import type { OutgoingMessage } from "../delivery/delivery.ts";
import { headerSafe } from "../headers.ts";
import { uuidv7 } from "../ids.ts";
import type { ConfigReads } from "../plugin.ts";
import { publicError } from "../secrets.ts";
import type { ActionResult, ActionRun, AlertRecord } from "../store/store.ts";
import { renderFollowUpEmail } from "../../emails/render.ts";
import { runSteps } from "./actions.ts";
import { queueChatUpdates } from "../channels/channels.ts";
import { messageIdOf, recipients, settingsFor } from "./_compose.ts";
import { preprocess } from "./_input.ts";
import { fill } from "../template.ts";
import type { Runtime } from "./_types.ts";
import { addSilence, type StormButton } from "../storm/storm.ts";
import { formatDuration } from "../duration.ts";

/** A button of a recorded alert. */
export interface ButtonTarget {
  record: AlertRecord;
  detector: LoadedDetector;
  /** A reply button of the detector, or one of storm control's own (silence, ack). */
  button: ReplyButton | StormButton;
}

/** What a button run came to: the finished run (as recorded) and what happened to the follow-up email. */
export interface ButtonOutcome {
  run: ActionRun;
  /** `sent to 2 recipients`, `not sent: delivery failed`, … */
  followUp: string;
}

/** The run recorded under a nonce for an alert, if the nonce was used before. */
export async function findButtonRun(
  runtime: Runtime,
  alertId: string,
  nonce: string,
): Promise<ActionRun | undefined> {
  const runs = await runtime.store.listActionRuns(alertId);
  return runs.find((run) => run.nonce === nonce);
}

/** The alert after the detector's preprocess hook (what the email was made from). */
export async function alertOf(
  target: Pick<ButtonTarget, "record" | "detector">,
): Promise<Record<string, unknown>> {
  try {
    return await preprocess(target.detector, target.record.alert);
  } catch {
    return target.record.alert;
  }
}

/** Values of the send actions (`pass_to_mail`) by return_name and the severity, as the email's placeholders saw them. */
export function sendValues(record: AlertRecord): Record<string, unknown> {
  // `{severity}` is the mapped level in button steps too, as it was in the email.
  const values: Record<string, unknown> = record.severity
    ? { severity: record.severity }
    : {};
  for (const action of record.actions ?? []) {
    if (action.status === "ok" && action.return_name) {
      values[action.return_name] = action.value;
    }
  }
  return values;
}

/**
 * The button's label as its email showed it: the configured label is a template (`Block {src_ip}`),
 * filled from the alert and the send values. The confirmation page, the result page, the run record
 * (audit) and the follow-up email all use this text.
 */
export async function buttonLabel(
  target: Pick<ButtonTarget, "record" | "detector" | "button">,
): Promise<string> {
  const data = { ...(await alertOf(target)), ...sendValues(target.record) };
  return fill(target.button.name, data);
}

/**
 * Runs a button whose nonce was just consumed (`run` is the "running" entry): its steps, then the run's
 * outcome recorded, Jira keys saved and the follow-up email sent.
 */
export async function runButton(
  runtime: Runtime,
  target: ButtonTarget,
  options: {
    /** The consumed nonce's run entry, status "running". */
    run: ActionRun;
    /** Clock in epoch ms for the finish time. */
    now: () => number;
  },
): Promise<ButtonOutcome> {
  const { run, now } = options;
  let steps: ActionResult[];
  try {
    steps = await runButtonSteps(runtime, target, run);
  } catch (err) {
    steps = [{
      name: "blitz",
      status: "error",
      error: publicError(err),
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
  // Chat messages of the alert show who ran what (and lose the button that ran).
  try {
    if (await queueChatUpdates(runtime, target.record.id, run.nonce)) {
      runtime.onChannelWork?.();
    }
  } catch (err) {
    runtime.log("channel_error", {
      alert_id: target.record.id,
      error: publicError(err),
      during: "queueing chat updates",
    });
  }
  runtime.log("action_run", {
    alert_id: target.record.id,
    detector: target.detector.name,
    button: run.button,
    actor: run.actor,
    actor_source: run.actor_source,
    client_ip: run.client_ip,
    status,
    steps: steps.map((s) => `${s.name}:${s.status}`).join(","),
  });
  return { run: finished, followUp };
}

/** Runs the button's steps in order, results chained by return_name; stops at the first failure. */
async function runButtonSteps(
  runtime: Runtime,
  target: ButtonTarget,
  run: ActionRun,
): Promise<ActionResult[]> {
  const message = target.record.message;
  const settings = (
    plugin: { name: string; reads?: ConfigReads | undefined },
  ): Record<string, unknown> => {
    const own = settingsFor(runtime.config, target.detector, plugin);
    // silence and ack (built in, in-process) change storm control's state in the store.
    if (plugin.name === "silence" || plugin.name === "ack") {
      return { ...own, ...stormSettings(runtime, target, run) };
    }
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

/** What the silence and ack actions get: the store side, for this alert and the person who confirmed. */
function stormSettings(
  runtime: Runtime,
  target: ButtonTarget,
  run: ActionRun,
): Record<string, unknown> {
  const { record, detector } = target;
  const now = () => runtime.clock?.() ?? new Date();
  const fingerprint = () => {
    if (!record.fingerprint) {
      throw new TypeError(
        "this alert has no fingerprint: its detector had no storm block when it arrived",
      );
    }
    return record.fingerprint;
  };
  return {
    silence: (request: {
      forMs: number;
      scope: "fingerprint" | "detector";
      comment: string;
    }) =>
      addSilence({
        store: runtime.store,
        clock: runtime.clock,
        detectors: runtime.config.detectors.keys(),
      }, {
        detector: detector.name,
        ...(request.scope === "fingerprint"
          ? { fingerprint: fingerprint() }
          : {}),
        forMs: request.forMs,
        createdBy: run.actor,
        comment: request.comment ||
          `from the email of alert ${record.id} (${run.button})`,
      }),
    ack: async () => {
      const id = fingerprint();
      if (
        !(await runtime.store.storm.ack(id, { actor: run.actor, at: now() }))
      ) {
        throw new TypeError("no storm state for this fingerprint");
      }
      return {
        fingerprint: id,
        quiet: formatDuration(detector.config.storm?.ack_quiet ?? 86_400_000),
      };
    },
  };
}

/** Adds the issue keys returned by jira_create steps to the alert record. */
async function saveJiraKeys(
  runtime: Runtime,
  target: ButtonTarget,
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
  target: ButtonTarget,
  run: ActionRun,
): Promise<string> {
  const { config } = runtime;
  const { record, detector } = target;
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
    title: `${run.button}: ${run.status === "ok" ? "done" : "failed"}`,
    actor,
    button: run.button,
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
      error: publicError(err),
    });
    return "not sent: delivery failed";
  }
}
