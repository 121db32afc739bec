/**
 * Channels besides email: which outbox entries an alert gets (one per channel its `notify` names, each
 * with its own retries), and one attempt at one entry, recorded. The senders live beside this file, one
 * per type: `_slack.ts`, `_teams.ts`, `_webhook.ts`, `_pagerduty.ts`, and `_plugin.ts` for
 * `defineChannel` plugins (run in the sandbox). The worker loop that claims due entries is
 * `core/service/channel_queue.ts`; the CLI's `ingest` makes one attempt at each entry of its alert.
 *
 * A failing channel never blocks or re-sends another: each entry is claimed, sent and recorded alone.
 * A failure is retried with the backoff of the global `delivery` settings (the channel's
 * `max_attempts` if set), never sooner than the far end's `Retry-After`, then recorded as `failed`.
 *
 * @module
 */
import type { ChannelConfig, LoadedConfig } from "../config/config.ts";
import type { PluginChannelConfig } from "../config/channels.ts";
import { toJson } from "../json.ts";
import { retryOrFail } from "../delivery/retry.ts";
import type { Logger } from "../log.ts";
import type { Invoker } from "../plugins/call.ts";
import type { PluginRegistry } from "../plugins/registry.ts";
import { publicError } from "../secrets.ts";
import type {
  ChannelDelivery,
  ChannelDeliveryPatch,
  NewChannelDelivery,
  Store,
} from "../store/store.ts";
import type { ChannelMessage } from "./model.ts";
import { ChannelError } from "./_http.ts";
import { sendWebhook } from "./_webhook.ts";
import { sendTeams } from "./_teams.ts";
import { sendPagerDuty } from "./_pagerduty.ts";
import { slackMessage } from "./_slack.ts";
import { importLazy } from "../lazy.ts";

export {
  buildChannelMessage,
  SEVERITY_LEVELS,
  stormChannelMessage,
} from "./message.ts";
export type { ChannelMessage, SeverityLevel } from "./model.ts";
export { ChannelError } from "./_http.ts";
export { signWebhook } from "./_webhook.ts";

/** What sending needs of the runtime (the pipeline's `Runtime` satisfies it). */
export interface ChannelDeps {
  config: LoadedConfig;
  store: Store;
  log: Logger;
  registry?: PluginRegistry;
  /** Runs channel plugins in the sandbox. */
  invoker?: Invoker;
  /** @default () => new Date() */
  clock?: () => Date;
  /** Told of each attempt's outcome (metrics). */
  onChannelAttempt?: (
    channel: string,
    type: string,
    outcome: "delivered" | "retry" | "failed",
  ) => void;
}

/** The outbox entries of one message: one per channel of `notify` other than email. */
export function deliveriesFor(
  config: LoadedConfig,
  notify: readonly string[],
  message: ChannelMessage,
  event = "alert",
): NewChannelDelivery[] {
  return [...new Set(notify)].flatMap((name) => {
    const channel = config.channels.get(name);
    if (!channel) return [];
    return [{
      alert_id: message.alert_id,
      channel: name,
      event,
      type: channel.type,
      payload: { message },
    }];
  });
}

/**
 * Queues a message that is not an alert's own (a storm digest, the end of a silence, a grouped email)
 * to the channels of `notify` other than email, under `event` (one entry per channel and event, however
 * often this runs). With `members` (a grouped email's alerts still firing) a `pagerduty` channel gets
 * one entry per member instead, each hanging off its alert: PagerDuty's incidents stay one per
 * fingerprint, closed by that fingerprint's resolve. Returns how many were queued; the caller wakes
 * the channel queue.
 */
export async function queueNotice(
  deps: ChannelDeps,
  options: {
    notify: readonly string[];
    message: ChannelMessage;
    event: string;
    members?: readonly ChannelMessage[];
  },
): Promise<number> {
  const { members } = options;
  const rows = deliveriesFor(
    deps.config,
    options.notify,
    options.message,
    options.event,
  ).flatMap((row) =>
    row.type !== "pagerduty" || !members ? [row] : members.map((m) => ({
      ...row,
      alert_id: m.alert_id,
      payload: { message: m },
    }))
  );
  if (rows.length) await deps.store.insertDeliveries(rows);
  return rows.length;
}

/** One attempt at one claimed (or pending) delivery, its outcome recorded; returns the delivery after it. */
export async function attemptDelivery(
  deps: ChannelDeps,
  delivery: ChannelDelivery,
): Promise<ChannelDelivery> {
  const now = deps.clock?.() ?? new Date();
  const attempts = delivery.attempts + 1;
  const channel = deps.config.channels.get(delivery.channel);
  let patch: ChannelDeliveryPatch;
  try {
    if (!channel) {
      throw new ChannelError(
        `channel "${delivery.channel}" is no longer configured`,
        { transient: false },
      );
    }
    const result = await send(deps, channel, delivery, now);
    patch = {
      status: "delivered",
      attempts,
      delivered_at: (deps.clock?.() ?? new Date()).toISOString(),
      result,
      last_error: undefined,
      lease_until: undefined,
    };
  } catch (err) {
    const error = publicError(err);
    const transient = !(err instanceof ChannelError) || err.transient;
    const global = deps.config.global.delivery;
    const decision = retryOrFail({
      ...global,
      max_attempts: channel?.max_attempts ?? global.max_attempts,
    }, { attempts, transient, now });
    if (decision.final) {
      patch = {
        status: "failed",
        attempts,
        last_error: error,
        lease_until: undefined,
      };
    } else {
      // Retry-After counts from the answer that carried it, not from when the attempt began: a slow
      // round trip would otherwise bring the next attempt that much sooner than the far end asked.
      const wait = err instanceof ChannelError ? err.retryAfterMs ?? 0 : 0;
      const answeredAt = (deps.clock?.() ?? new Date()).getTime();
      const next = Math.max(
        Date.parse(decision.nextAttemptAt),
        answeredAt + wait,
      );
      patch = {
        status: "pending",
        attempts,
        last_error: error,
        next_attempt_at: new Date(next).toISOString(),
        lease_until: undefined,
      };
    }
  }
  await deps.store.updateDelivery(delivery, patch);
  deps.onChannelAttempt?.(
    delivery.channel,
    delivery.type,
    patch.status === "pending"
      ? "retry"
      : patch.status as "delivered" | "failed",
  );
  const after = { ...delivery } as Record<string, unknown>;
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) delete after[key];
    else after[key] = value;
  }
  deps.log(
    patch.status === "delivered"
      ? "channel_delivered"
      : patch.status === "failed"
      ? "channel_failed"
      : "channel_retry",
    {
      alert_id: delivery.alert_id,
      channel: delivery.channel,
      type: delivery.type,
      // Not `event`: that field is the log line's own name (channel_failed, …), which it overwrote.
      channel_event: delivery.event,
      attempts,
      ...(patch.last_error ? { error: patch.last_error } : {}),
      ...(patch.next_attempt_at
        ? { next_attempt_at: patch.next_attempt_at }
        : {}),
    },
  );
  return after as unknown as ChannelDelivery;
}

/**
 * The CLI's one attempt at each pending delivery of an alert (what fails stays pending for `serve`).
 * Returns each channel's state afterwards.
 */
export async function deliverAlertChannels(
  deps: ChannelDeps,
  alertId: string,
): Promise<{ channel: string; status: string; error?: string }[]> {
  const pending = (await deps.store.listDeliveries(alertId)).filter((d) =>
    d.status === "pending"
  );
  const done = await Promise.all(pending.map((d) => attemptDelivery(deps, d)));
  return done.map((d) => ({
    channel: d.channel,
    status: d.status,
    ...(d.last_error ? { error: d.last_error } : {}),
  }));
}

/**
 * After a button ran (clicked in the email, on the page or in chat): queues a `chat.update` of every
 * Slack message of the alert, so the chat shows who did what. Each update is its own outbox entry
 * (`update:<nonce>`), retried like any delivery. Returns how many were queued.
 */
export async function queueChatUpdates(
  deps: ChannelDeps,
  alertId: string,
  nonce: string,
): Promise<number> {
  const posted = (await deps.store.listDeliveries(alertId)).filter((d) =>
    d.event === "alert" && d.type === "slack" && d.status === "delivered" &&
    typeof d.result?.ts === "string"
  );
  if (posted.length === 0) return 0;
  await deps.store.insertDeliveries(posted.map((d) => ({
    alert_id: alertId,
    channel: d.channel,
    event: `update:${nonce}`,
    type: "slack",
    payload: {
      message: d.payload.message,
      target: { channel: d.result!.channel, ts: d.result!.ts },
    },
  })));
  return posted.length;
}

/**
 * Sends through a `defineChannel` plugin in the sandbox (granted only what it declares), under the
 * channel's `timeout`. Its settings are the channel's `params` (validated in the worker by the plugin's
 * schema) plus `api_url` when set. A permission error or invalid params fail at once; anything else is
 * retried.
 */
async function sendPlugin(
  deps: ChannelDeps,
  channel: PluginChannelConfig & { name: string },
  message: ChannelMessage,
): Promise<Record<string, unknown>> {
  if (!deps.registry?.hasChannel(channel.type) || !deps.invoker) {
    throw new ChannelError(
      `channel plugin "${channel.type}" is not loaded`,
      { transient: false },
    );
  }
  const entry = deps.registry.channel(channel.type);
  const plugin = await entry.load();
  try {
    const value = await deps.invoker.invoke(
      entry as unknown as Parameters<Invoker["invoke"]>[0],
      plugin as unknown as Parameters<Invoker["invoke"]>[1],
      message,
      {
        alert: message.alert,
        alertId: message.alert_id,
        detector: message.detector,
        args: [],
        settings: {
          ...channel.params,
          ...(channel.api_url ? { api_url: channel.api_url } : {}),
        },
      },
      { timeoutMs: channel.timeout },
    );
    return value === undefined || value === null
      ? {}
      : { value: toJson(value) };
  } catch (err) {
    const text = publicError(err);
    throw new ChannelError(`channel plugin "${channel.type}": ${text}`, {
      transient: !/^(permission denied|invalid params)/.test(text),
      cause: err,
    });
  }
}

/** Sends through the channel's type; resolves with what to record, throws ChannelError (or anything). */
async function send(
  deps: ChannelDeps,
  channel: ChannelConfig,
  delivery: ChannelDelivery,
  now: Date,
): Promise<Record<string, unknown>> {
  const message = delivery.payload.message as ChannelMessage;
  if (channel.plugin) return await sendPlugin(deps, channel, message);
  switch (channel.type) {
    case "slack": {
      const api = await importLazy<typeof import("./slack_api.ts")>(
        "core/channels/slack_api.ts",
      );
      const interactive = channel.signing_secret !== undefined;
      const target = delivery.payload.target as
        | { channel: string; ts: string }
        | undefined;
      if (delivery.event.startsWith("update:") && target) {
        const runs = await deps.store.listActionRuns(delivery.alert_id);
        await api.updateSlackMessage(
          channel,
          target,
          slackMessage(message, { interactive, runs }),
        );
        return { ...target, updated: true };
      }
      return await api.postSlackMessage(
        channel,
        slackMessage(message, { interactive }),
      );
    }
    case "teams":
      return await sendTeams(channel, message);
    case "pagerduty":
      return await sendPagerDuty(channel, message);
    case "webhook":
      return await sendWebhook(channel, message, {
        id: `msg_${delivery.alert_id}_${delivery.channel}_${delivery.event}`
          .replace(/[^\w.-]/g, "_"),
        event: delivery.event,
        now,
      });
    default:
      throw new ChannelError(
        `channel type "${(channel as { type: string }).type}" is unknown`,
        { transient: false },
      );
  }
}
