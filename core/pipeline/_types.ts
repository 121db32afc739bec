/** The shapes the pipeline's steps pass between them: the runtime, a composition, a delivery outcome. */
import type { LoadedConfig, LoadedDetector } from "../config/config.ts";
import type { EnrichmentCache, Invoker } from "./enrich.ts";
import type { Delivery, DeliveryResult } from "../delivery/delivery.ts";
import type { Logger } from "../log.ts";
import type { PluginRegistry } from "../plugins/registry.ts";
import type {
  ActionResult,
  EnrichmentResult,
  Store,
  StoredMessage,
  SuppressedBy,
} from "../store/store.ts";
import type { SandboxInvoker } from "../plugins/sandbox.ts";
import type { Level } from "../severity.ts";
import type { LimitedInvoker } from "./limits.ts";
import type { ChannelMessage } from "../channels/model.ts";

/** Everything the pipeline works with, built once per process. */
export interface Runtime {
  config: LoadedConfig;
  registry: PluginRegistry;
  store: Store;
  delivery: Delivery;
  cache: EnrichmentCache;
  log: Logger;
  /** Runs enrichments (and actions from plugin_dirs): the sandbox, wrapped by per-enrichment limits. */
  invoker?: Invoker;
  /** The plugin sandbox, closed by closeRuntime; its stats feed /metrics. */
  sandbox?: SandboxInvoker;
  /** Per-enrichment rate and quota counters for /metrics. */
  limits?: LimitedInvoker;
  /** @default () => new Date() */
  clock?: () => Date;
  /** Called after each channel delivery attempt (metrics). */
  onChannelAttempt?: (
    channel: string,
    type: string,
    outcome: "delivered" | "retry" | "failed",
  ) => void;
  /** Called when channel deliveries were queued (serve's channel queue wakes up). */
  onChannelWork?: () => void;
  /** Called once per alert storm control suppressed (metrics). */
  onSuppressed?: (detector: string, reason: SuppressedBy) => void;
  /** Called once per storm email sent: `digest`, `silence_end`, `group`, `breaker_on`, `breaker_off`. */
  onStormEmail?: (detector: string, kind: string) => void;
  /** Called once per finished enrichment (metrics). */
  onEnrichment?: (detector: string, result: EnrichmentResult) => void;
}

/** What composing an alert starts from. */
export interface ComposeInput {
  detector: LoadedDetector;
  alert: Record<string, unknown>;
  alertId: string;
  receivedAt: string;
  /** Appended to the subject (storm control's ` (+37 similar since 10:02)`). */
  subjectSuffix?: string;
}

/** What composing an alert produced (no side effects yet beyond send actions). */
export interface Composition {
  condition: string | null;
  conditionMatched: boolean;
  sendMail: boolean;
  enrichments: EnrichmentResult[];
  actions: ActionResult[];
  message: StoredMessage;
  /**
   * The same alert for the other channels (Slack, Teams, webhooks, PagerDuty, plugins), built on the
   * first call: an alert that only mails never needs it (~20 µs of redaction and copying per alert).
   */
  channelMessage: () => ChannelMessage;
  /** The channels this alert goes to: the matched block's `notify`, else the detector's. */
  notify: string[];
  /** Placeholders left unfilled, each as `<where>: {placeholder}` (`subject: {src_ip}`). */
  unfilled: string[];
  /** The detector's `severity` level for the alert. */
  severity?: Level;
  /** The alert's thread key (`thread_key` or `storm.fingerprint`). */
  threadKey?: string;
}

/** What one delivery attempt came to: the transport's result, or its error and whether to retry. */
export type DeliveryOutcome =
  | { ok: true; result: DeliveryResult }
  | { ok: false; error: string; transient: boolean };
