/**
 * The pipeline: an alert becomes an enriched, actionable email and a record. Both doors (the CLI and
 * the HTTP service) call it; the service splits it into accept (`acceptAlerts`) and a worker step
 * (`processAlert`), the CLI runs both in one go (`ingestAlert`).
 *
 * Read top to bottom: `ingestAlert` records an alert and hands it to `processAlert`, which has it
 * composed (`compose`: enrichments, send actions, the email), delivered (`deliver`) and recorded.
 * The details of each step live beside it: `_input.ts` (parse, detector, preprocess), `_compose.ts`
 * (condition block, enrichments, email) and `_record.ts` (patches, summary line); the retry-or-fail
 * decision is `core/delivery/retry.ts`.
 *
 * @module
 */
import { runSteps } from "./actions.ts";
import { errorMessage } from "../plugins/call.ts";
import {
  type AlertPatch,
  type AlertRecord,
  isDiskFull,
  untilSpace,
} from "../store/store.ts";
import type { EnrichmentBlock, LoadedDetector } from "../config/config.ts";
import { uuidv7 } from "../ids.ts";
import type { ComposeInput, Composition, Runtime } from "./_types.ts";
import type { ChannelMessage } from "../channels/model.ts";
import { detectorOf, preprocess } from "./_input.ts";
import { deliver } from "./_deliver.ts";
import { threadOf } from "./_thread.ts";
import { severityOf } from "../severity.ts";
import { decideStorm, similarSuffix } from "../storm/storm.ts";
import { importLazy } from "../lazy.ts";
import { enrich, selectBlock, settingsFor } from "./_compose.ts";
import { renderMessage } from "./_message.ts";
import {
  applyPatch,
  attemptPatch,
  composedPatch,
  type IngestSummary,
  logAttempt,
  summarize,
} from "./_record.ts";

export type { Composition, Runtime } from "./_types.ts";
export {
  checkAlert,
  detectorOf,
  PARENT_KEY,
  parseAlert,
  preprocess,
  splitAlert,
} from "./_input.ts";
export {
  actionLink,
  messageIdOf,
  recipients,
  settingsFor,
} from "./_compose.ts";
// The steps of compose, for replaying stored alerts (core/replay).
export { enrich, selectBlock } from "./_compose.ts";
export { threadOf } from "./_thread.ts";
export { renderMessage } from "./_message.ts";
export { type IngestSummary, summarize } from "./_record.ts";
export { deliver } from "./_deliver.ts";

/**
 * The CLI path: records the alert, processes it once (no retry loop: a failed delivery stays recorded
 * as "retry" for `serve` to pick up) and returns the summary line.
 */
export async function ingestAlert(
  runtime: Runtime,
  detectorName: string,
  alert: Record<string, unknown>,
): Promise<IngestSummary> {
  detectorOf(runtime.config, detectorName);
  const id = newAlertId();
  const receivedAt = (runtime.clock?.() ?? new Date()).toISOString();
  await runtime.store.insertAlerts([{
    id,
    detector: detectorName,
    alert,
    received_at: receivedAt,
    status: "processing",
  }]);
  runtime.log("accepted", { alert_id: id, detector: detectorName });
  const record: AlertRecord = {
    id,
    detector: detectorName,
    alert,
    received_at: receivedAt,
    updated_at: receivedAt,
    status: "processing",
    attempts: 0,
  };
  const done = summarize(
    await processAlert(runtime, record, { durable: true }),
  );
  const detector = detectorOf(runtime.config, detectorName);
  const usesChannels = [
    detector.config.notify,
    ...detector.blocks.map((b) => b.notify ?? []),
  ].some((list) => list.some((name) => name !== "email"));
  if (!usesChannels) return done;
  // One attempt per channel; what fails stays queued for `serve`, with its backoff.
  const channels = await (await channelsModule()).deliverAlertChannels(
    runtime,
    id,
  );
  return channels.length ? { ...done, channels } : done;
}

/** New alert id: UUIDv7 (time-ordered). */
export function newAlertId(): string {
  return uuidv7();
}

/** Options of {@link processAlert}. */
export interface ProcessOptions {
  /**
   * Takes the write of the outcome instead of waiting for it: a worker moves on to its next alert while
   * the write commits with the next group commit (fewer, larger commits in a burst). The outcome's log
   * line still follows the write; the promise rejects if the write fails.
   */
  recording?: (written: Promise<void>) => void;
  /**
   * The outcome's write resolves only once it is on disk (the CLI: its exit code says the alert is
   * recorded, and it leaves the WAL to the next process rather than checkpointing it at exit).
   */
  durable?: boolean;
}

/**
 * Processes one recorded alert: composes it (once; retries reuse the stored message), delivers it,
 * and records the outcome. Delivery failures become "retry" until `delivery.max_attempts`, then "failed".
 * Returns the record as the outcome's write leaves it.
 */
export async function processAlert(
  runtime: Runtime,
  record: AlertRecord,
  options: ProcessOptions = {},
): Promise<AlertRecord> {
  const detector = detectorOf(runtime.config, record.detector);
  let composed: AlertPatch = {};
  let unfilled: string[] = [];
  let message = record.message;
  if (!message) {
    let alert = record.alert;
    try {
      alert = await preprocess(detector, record.alert);
    } catch (err) {
      runtime.log("preprocess_failed", {
        alert_id: record.id,
        detector: record.detector,
        error: errorMessage(err),
      });
    }
    // Storm control decides before enrichment: a suppressed alert burns no lookup and no email.
    const storm = await decideStorm(
      {
        ...runtime,
        breaker: runtime.config.global.storm_breaker,
      },
      detector,
      {
        id: record.id,
        alert,
      },
    );
    if (storm?.action === "suppress") {
      const suppressed: AlertRecord = {
        ...record,
        status: "suppressed",
        ...(storm.fingerprint.id ? { fingerprint: storm.fingerprint.id } : {}),
        suppressed_by: storm.reason,
        ...(storm.notifiedId ? { notified_id: storm.notifiedId } : {}),
        ...(storm.silenceId ? { silence_id: storm.silenceId } : {}),
        ...(storm.groupKey ? { group_key: storm.groupKey } : {}),
      };
      // The decision itself recorded it (one atomic store operation): nothing more to write.
      options.recording?.(Promise.resolve());
      runtime.onSuppressed?.(record.detector, storm.reason);
      runtime.log("suppressed", {
        alert_id: record.id,
        detector: record.detector,
        reason: storm.reason,
        notified_id: storm.notifiedId,
        silence_id: storm.silenceId,
      });
      if (storm.notice === "on") {
        // This alert switched the storm breaker on: one notice now, then a digest every 15 minutes.
        await (await importLazy<typeof import("./storm_mail.ts")>(
          "core/pipeline/storm_mail.ts",
        )).sendBreakerNotice(runtime, detector, {
          on: true,
          rate: storm.rate ?? 0,
          anchor: record.id,
        }).catch((err: unknown) =>
          runtime.log("storm_email_failed", {
            detector: record.detector,
            kind: "breaker_on",
            error: errorMessage(err),
          })
        );
      }
      return suppressed;
    }
    const composition = await compose(runtime, {
      detector,
      alert,
      alertId: record.id,
      receivedAt: record.received_at,
      ...(storm ? { subjectSuffix: similarSuffix(storm.since) } : {}),
    });
    message = composition.message;
    unfilled = composition.unfilled;
    composed = composedPatch(composition);
    // What the channels' message adds to the composition's (applied only when one is queued).
    const extra: Pick<ChannelMessage, "fingerprint" | "storm"> = {};
    if (storm) {
      // PagerDuty merges repeats by it; chat shows the count of similar alerts.
      extra.fingerprint = storm.fingerprint.id;
      if (storm.since && storm.since.count > 0) {
        extra.storm = { count: storm.since.count, first_seen: storm.since.at };
      }
    } else if (composition.threadKey) {
      // Without storm control the thread key ties a resolved alert to its firing one (PagerDuty).
      extra.fingerprint = composition.threadKey;
    }
    if (composition.sendMail) {
      // Queued durably before the email goes: each channel then has its own outbox entry and retries
      // (processing this alert again after a crash finds them queued and adds none).
      await queueChannels(runtime, composition, extra);
    }
    // Not mailed: no condition matched, or the detector notifies only chat channels.
    const unsent = !composition.sendMail
      ? "no condition matched"
      : composition.notify.includes("email")
      ? undefined
      : "email is not in notify";
    if (unsent) {
      const patch: AlertPatch = {
        ...composed,
        status: "not_sent",
        delivery: { status: "skipped" },
      };
      await recordOutcome(
        runtime,
        record,
        patch,
        options,
        () =>
          runtime.log("not_sent", {
            alert_id: record.id,
            detector: record.detector,
            reason: unsent,
            ...(!composition.sendMail && unfilled.length
              ? { unfilled: unfilled.join("; ") }
              : {}),
          }),
      );
      return applyPatch(record, patch);
    }
  }
  // One write per attempt: the composition and the delivery outcome are recorded together.
  const attempts = record.attempts + 1;
  const outcome = await deliver(runtime, message);
  const patch: AlertPatch = {
    ...composed,
    ...attemptPatch(runtime, { outcome, attempts }),
  };
  await recordOutcome(
    runtime,
    record,
    patch,
    options,
    () => logAttempt(runtime, record, patch, unfilled),
  );
  return applyPatch(record, patch);
}

let channelsLoading:
  | Promise<typeof import("../channels/channels.ts")>
  | undefined;

/**
 * The chat channels (Slack, Teams, PagerDuty, webhooks and safe_fetch), loaded on first use: an
 * `ingest` that only mails skips ~15 modules (issue 17).
 */
function channelsModule(): Promise<typeof import("../channels/channels.ts")> {
  return channelsLoading ??= importLazy("core/channels/channels.ts");
}

/** Queues the composition's channel deliveries (none when `notify` is only email) and wakes the channel queue. */
async function queueChannels(
  runtime: Runtime,
  composition: Composition,
  extra: Pick<ChannelMessage, "fingerprint" | "storm">,
): Promise<void> {
  // Mail only (no chat channel among `notify`): the channels' modules are not even loaded.
  const chat = composition.notify.some((name) =>
    runtime.config.channels.has(name)
  );
  if (!chat) return;
  const rows = (await channelsModule()).deliveriesFor(
    runtime.config,
    composition.notify,
    Object.assign(composition.channelMessage(), extra),
  );
  if (rows.length === 0) return;
  await runtime.store.insertDeliveries(rows);
  runtime.onChannelWork?.();
}

/**
 * Writes an outcome (once more if the first write fails: a busy lock held by another process past
 * busy_timeout would otherwise leave a mailed alert "processing", mailed again at the next start), then
 * logs it. The write goes to `options.recording`, or is waited for. A logger that throws cannot make a
 * recorded outcome look unrecorded: the log line hangs off the write, not the other way round.
 */
async function recordOutcome(
  runtime: Runtime,
  record: AlertRecord,
  patch: AlertPatch,
  options: ProcessOptions,
  log: () => void,
): Promise<void> {
  const durable = { durable: options.durable ?? false };
  const update = () => runtime.store.updateAlert(record.id, patch, durable);
  const write = update().catch((err) => {
    if (!options.recording || !isDiskFull(err)) return update();
    // serve holds an outcome refused for a full disk until space returns: the email went out, and
    // requeueing the alert would mail it again.
    runtime.log("outcome_waiting_for_space", {
      alert_id: record.id,
      detector: record.detector,
      status: patch.status,
      error: errorMessage(err),
    });
    return untilSpace(update);
  });
  write.then(() => {
    try {
      log();
    } catch {
      // the outcome is recorded; a failing logger has nowhere to report to
    }
  }, () => {}); // the caller (or `recording`) handles a failed write
  if (options.recording) options.recording(write);
  else await write;
}

/**
 * Runs enrichments (concurrently) and send actions (in order), then renders the email. With
 * `sideEffects: false` (the `render` command) send actions with side effects are skipped.
 */
export async function compose(
  runtime: Runtime,
  input: ComposeInput,
  options: { sideEffects?: boolean } = {},
): Promise<Composition> {
  const { detector, alert, alertId } = input;
  const severity = detector.severity
    ? severityOf(detector.severity, alert)
    : undefined;
  const { block, matched, problems } = selectBlock(
    runtime,
    detector,
    alert,
    alertId,
    { severity: severity ?? "" },
  );
  const unfilled: string[] = [];
  const onMissing = (where: string, placeholder: string) => {
    const entry = `${where}: ${placeholder}`;
    if (!unfilled.includes(entry)) unfilled.push(entry);
  };
  const enrichments = await enrich(runtime, detector, block, {
    alert,
    alertId,
    onMissing,
  });
  // `{severity}` is the level wherever placeholders are filled, when the detector sets one.
  const values: Record<string, unknown> = severity ? { severity } : {};
  const actions = await runSteps(detector.config.actions.send, {
    alert,
    alertId,
    detector: detector.name,
    registry: runtime.registry,
    settingsFor: (plugin) => settingsFor(runtime.config, detector, plugin),
    values,
    sideEffects: options.sideEffects ?? true,
    onMissing,
    ...(runtime.invoker ? { invoker: runtime.invoker } : {}),
  });
  const thread = await threadOf(runtime, detector, input);
  const { message, channelMessage } = await renderMessage(runtime, {
    ...input,
    matched,
    conditionProblems: problems,
    condition: block?.condition?.source ?? null,
    skipped: notRun(detector, block),
    enrichments,
    actions,
    values,
    onMissing,
    thread,
    ...(severity ? { severity } : {}),
  });
  return {
    condition: block?.condition?.source ?? null,
    conditionMatched: matched,
    sendMail: matched || detector.config.send_mail_no_condition_match,
    enrichments,
    actions,
    message,
    channelMessage,
    notify: block?.notify ?? detector.config.notify,
    unfilled,
    ...(severity ? { severity } : {}),
    ...(thread.key ? { threadKey: thread.key } : {}),
  };
}

/** Enrichments of the blocks whose condition did not match (enabled ones): one quiet line in the email. */
function notRun(
  detector: LoadedDetector,
  block: EnrichmentBlock | undefined,
): string[] {
  if (!detector.config.enrichment_conditional) return [];
  const ran = new Set(block?.entries ?? []);
  const names = detector.blocks.flatMap((b) =>
    b.entries.filter((e) => e.enabled && !ran.has(e)).map((e) => e.e_name)
  );
  return [...new Set(names)];
}
