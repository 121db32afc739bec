/**
 * One alert through the changed config, as processing would take it, read top to bottom: the
 * detector's preprocess hook; storm control's decision on the scratch state (a suppressed alert stops
 * here, as it does in processing: no enrichment, no email); the condition block; the enrichments
 * (offline: the results stored with the alert; `live`: queried again); the side-effect-free send
 * actions (one with side effects is not run again: what it recorded stands in for it); the email in
 * its thread (found on the scratch state), with storm control's `(+N similar since …)` in its
 * subject; then each extra step's decision.
 *
 * @module
 */
import { severityOf } from "../severity.ts";
import type { EnrichmentBlock, LoadedDetector } from "../config/config.ts";
import { runSteps } from "../pipeline/actions.ts";
import {
  enrich,
  preprocess,
  renderMessage,
  type Runtime,
  selectBlock,
  settingsFor,
  threadOf,
} from "../pipeline/pipeline.ts";
import type { AlertRecord, EnrichmentResult } from "../store/store.ts";
import { similarSuffix } from "../storm/storm.ts";
import type { StormReplay } from "./_storm.ts";
import { type AlertView, enrichmentLines, sendLines } from "./_views.ts";

/** An extra step after composing (channels, a test's probe): decides on scratch state, never acts. */
export interface ReplayStep {
  /** The decision's key in `AlertView.decisions`. */
  name: string;
  /** Returns the decision for this alert and channels, if any. */
  decide(input: {
    runtime: Runtime;
    record: AlertRecord;
    detector: LoadedDetector;
    after: AlertView;
  }): Promise<{ decision: string; channels?: string[] }>;
}

/** The replayed view of one alert of `detector` (the runtime's clock reads its `received_at`). */
export async function replayedView(
  runtime: Runtime,
  record: AlertRecord,
  options: {
    detector: LoadedDetector;
    storm: StormReplay;
    live: boolean;
    steps: ReplayStep[];
  },
): Promise<AlertView> {
  const { detector } = options;
  let alert = record.alert;
  try {
    alert = await preprocess(detector, record.alert);
  } catch {
    // as in processing: the alert goes on as received
  }
  const storm = await options.storm.decide(record, detector, alert);
  if (storm?.action === "suppress") {
    // The final decision (a grouped alert's notified alert is known once its batch goes) is read
    // from the scratch state at the end of the replay.
    return {
      ...emptyView(),
      storm: {
        decision: "suppressed",
        suppressed_by: storm.reason,
      },
    };
  }
  const severity = detector.severity
    ? severityOf(detector.severity, alert)
    : undefined;
  const { block, matched } = selectBlock(runtime, detector, alert, record.id, {
    severity: severity ?? "",
  });
  const enrichments = options.live
    ? await enrich(runtime, detector, block, { alert, alertId: record.id })
    : storedEnrichments(block, record);
  const values: Record<string, unknown> = severity ? { severity } : {};
  const sendSteps = detector.config.actions.send;
  const ran = await runSteps(sendSteps, {
    alert,
    alertId: record.id,
    detector: detector.name,
    registry: runtime.registry,
    settingsFor: (plugin) => settingsFor(runtime.config, detector, plugin),
    values,
    sideEffects: false,
    ...(runtime.invoker ? { invoker: runtime.invoker } : {}),
  });
  const actions = ran.map((action) => {
    const stored =
      action.status === "skipped" && action.return_name !== undefined
        ? record.actions?.find((a) =>
          a.return_name === action.return_name && a.status === "ok"
        )
        : undefined;
    if (!stored) return action;
    values[stored.return_name!] = stored.value;
    return stored;
  });
  const sent = matched || detector.config.send_mail_no_condition_match;
  // The thread (a resolve's "Resolved: …" subject, the earlier alerts it answers) on the scratch state.
  const thread = await threadOf(runtime, detector, {
    alert,
    alertId: record.id,
  });
  const { message } = await renderMessage(runtime, {
    detector,
    alert,
    alertId: record.id,
    receivedAt: record.received_at,
    matched,
    condition: block?.condition?.source ?? null,
    enrichments,
    actions,
    values,
    thread,
    ...(severity ? { severity } : {}),
    ...(storm ? { subjectSuffix: similarSuffix(storm.since) } : {}),
  });
  await options.storm.composed(record, { sent, message, thread: thread.key });
  const after: AlertView = {
    sent,
    subject: message.subject,
    to: message.to,
    cc: message.cc,
    condition: block?.condition?.source ?? "",
    enrichments: enrichmentLines(enrichments),
    send: sendLines(
      sendSteps.map((s) => ({
        name: s.name,
        return_name: s.config.return_name,
      })),
    ),
    buttons: detector.config.actions.reply.map((b) => b.name),
    steps: detector.config.actions.reply.map((b) =>
      `${b.name}: ${b.config.actions.map((s) => s.name).join(", ")}`
    ),
    storm: { decision: "notify" },
    decisions: {},
    channels: [],
    message,
  };
  for (const step of options.steps) {
    const { decision, channels } = await step.decide({
      runtime,
      record,
      detector,
      after,
    });
    after.decisions[step.name] = decision;
    if (channels) after.channels.push(...channels);
  }
  return after;
}

/** The block's enrichments as stored with the alert; one not stored says how to get it. */
function storedEnrichments(
  block: EnrichmentBlock | undefined,
  record: AlertRecord,
): EnrichmentResult[] {
  const stored = record.enrichments ?? [];
  return (block?.entries ?? []).map((entry) => {
    if (!entry.enabled) {
      return {
        name: entry.e_name,
        func: entry.e_func,
        status: "skipped",
        ms: 0,
      };
    }
    const found = stored.find((r) =>
      r.name === entry.e_name && r.func === entry.e_func
    ) ??
      stored.find((r) => r.name === entry.e_name);
    if (found && found.status !== "skipped") return found;
    return {
      name: entry.e_name,
      func: entry.e_func,
      status: "skipped",
      ms: 0,
      error: "not stored with this alert: replay with --live to query it",
    };
  });
}

/** A view with nothing known: a removed detector's alert, or one storm control suppressed. */
export function emptyView(): AlertView {
  return {
    sent: false,
    subject: null,
    to: null,
    cc: null,
    condition: null,
    enrichments: null,
    send: null,
    buttons: null,
    steps: null,
    storm: null,
    decisions: {},
    channels: [],
  };
}
