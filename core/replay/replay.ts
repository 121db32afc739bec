/**
 * `replay`: stored alerts through a changed config, in alert-time order, to see what would differ
 * before the change goes live. Read top to bottom: for each alert, the changed config's detector runs
 * its preprocess hook, picks its condition block, gets its enrichments (offline: the results stored
 * with the alert, so the run is exact and repeatable; `live`: queried again), runs its side-effect-free
 * send actions and renders the email; then each extra step (storm control plugs in here) decides on
 * scratch state. Nothing is sent, nothing with side effects runs, nothing is written to the real store.
 *
 * The runtime's clock reads the alert's `received_at` while the alert is replayed, so time windows
 * (storm control) see the alerts as they arrived.
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
} from "../pipeline/pipeline.ts";
import type { AlertRecord, EnrichmentResult } from "../store/store.ts";
import {
  type AlertView,
  changes,
  enrichmentLines,
  recordedView,
  type ReplayedAlert,
  type ReplayReport,
  sendLines,
} from "./_views.ts";

export type {
  AlertView,
  Change,
  ReplayedAlert,
  ReplayReport,
} from "./_views.ts";
export { alertPage, indexPage, textReport } from "./_report.ts";

/** Statuses of alerts that went through the pipeline (the others have nothing to compare with). */
export const REPLAYABLE = new Set(["delivered", "not_sent", "failed", "retry"]);

/** An extra step after composing (storm control, channels): decides on scratch state, never acts. */
export interface ReplayStep {
  /** The decision's key in `AlertView.decisions`, e.g. "storm". */
  name: string;
  /** Returns the decision for this alert (e.g. "email", "digest", "suppressed") and channels, if any. */
  decide(input: {
    runtime: Runtime;
    record: AlertRecord;
    detector: LoadedDetector;
    after: AlertView;
  }): Promise<{ decision: string; channels?: string[] }>;
}

/** Options of {@link replayAlerts}. */
export interface ReplayOptions {
  /** Query enrichments again instead of using the stored results. @default false */
  live?: boolean;
  /** Extra steps, in order, after composing. @default none */
  steps?: ReplayStep[];
}

/**
 * Replays `records` (sorted here by `received_at`) through `runtime` (built from the changed config,
 * with a scratch store and no delivery).
 */
export async function replayAlerts(
  runtime: Runtime,
  records: AlertRecord[],
  options: ReplayOptions = {},
): Promise<ReplayReport> {
  const ordered = [...records].sort((a, b) =>
    a.received_at < b.received_at
      ? -1
      : a.received_at > b.received_at
      ? 1
      : a.id < b.id
      ? -1
      : 1
  );
  const alerts: ReplayedAlert[] = [];
  for (const record of ordered) {
    alerts.push(await replayOne(runtime, record, options));
  }
  const decisions: Record<string, Record<string, number>> = {};
  for (const alert of alerts) {
    for (const [name, decision] of Object.entries(alert.after.decisions)) {
      const counts = decisions[name] ??= {};
      counts[decision] = (counts[decision] ?? 0) + 1;
    }
  }
  const changed = alerts.filter((a) => a.changed).length;
  return {
    alerts,
    summary: {
      replayed: alerts.length,
      changed,
      unchanged: alerts.length - changed,
      emails: {
        before: alerts.filter((a) => a.before.sent).length,
        after: alerts.filter((a) => a.after.sent).length,
      },
      decisions,
    },
  };
}

async function replayOne(
  base: Runtime,
  record: AlertRecord,
  options: ReplayOptions,
): Promise<ReplayedAlert> {
  const before = recordedView(record);
  const detector = base.config.detectors.get(record.detector);
  const result = (after: AlertView): ReplayedAlert => {
    const found = changes(before, after);
    return {
      id: record.id,
      detector: record.detector,
      received_at: record.received_at,
      changed: found.length > 0,
      changes: found,
      before,
      after,
    };
  };
  if (!detector) {
    // The changed config has no such detector: such an alert would be refused at ingest.
    return result({
      ...emptyView(),
      decisions: { detector: "removed" },
    });
  }
  const at = new Date(record.received_at);
  const runtime: Runtime = { ...base, clock: () => at };
  let alert = record.alert;
  try {
    alert = await preprocess(detector, record.alert);
  } catch {
    // as in processing: the alert goes on as received
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
  // A send action with side effects is not run again: what it recorded stands in for it.
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
    ...(severity ? { severity } : {}),
  });
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
    decisions: {},
    channels: [],
    message,
  };
  for (const step of options.steps ?? []) {
    const { decision, channels } = await step.decide({
      runtime,
      record,
      detector,
      after,
    });
    after.decisions[step.name] = decision;
    if (channels) after.channels.push(...channels);
  }
  return result(after);
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

function emptyView(): AlertView {
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
    decisions: {},
    channels: [],
  };
}
