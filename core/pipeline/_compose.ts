/**
 * The details of composing an alert: which condition block applies, the settings each plugin sees,
 * running the block's enrichments, recipients, signed button links and the Message-ID. The email
 * itself is `_message.ts`.
 *
 * @module
 */
import {
  colorOf,
  type EnrichmentBlock,
  type LoadedConfig,
  type LoadedDetector,
} from "../config/config.ts";
import { signActionToken } from "../auth/tokens.ts";
import { runEnrichments } from "./enrich.ts";
import { errorMessage } from "../plugins/call.ts";
import { redactDeep } from "../secrets.ts";
import type { EnrichmentResult } from "../store/store.ts";
import { headerSafe } from "../headers.ts";
import type { Runtime } from "./_types.ts";
import type { ConfigReads } from "../plugin.ts";
import type { ConditionVars } from "../config/conditions.ts";

/** A plugin's `ctx.settings`: the shareable config its `reads` names, then `plugins.<name>` over it. */
export function settingsFor(
  config: LoadedConfig,
  detector: LoadedDetector,
  plugin: { name: string; reads?: ConfigReads | undefined },
): Record<string, unknown> {
  const shared: Record<string, unknown> = {};
  for (const key of plugin.reads?.global ?? []) {
    shared[key] = config.global[key];
  }
  for (const key of plugin.reads?.detector ?? []) {
    shared[key] = detector.config[key];
  }
  return { ...shared, ...config.global.plugins[plugin.name] };
}

/** Global recipients plus the detector's `mailers` (or only those with `override`), deduplicated. */
export function recipients(
  config: LoadedConfig,
  detector: LoadedDetector,
): { to: string[]; cc: string[] } {
  const { mailers } = detector.config;
  const to = mailers.override
    ? mailers.to
    : [...config.global.to, ...mailers.to];
  const cc = mailers.override
    ? mailers.cc
    : [...config.global.cc, ...mailers.cc];
  const seen = new Set<string>();
  const unique = (list: string[]) =>
    list.map(headerSafe).filter((a) => {
      const key = a.toLowerCase();
      if (!a || seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  const uniqueTo = unique(to);
  return { to: uniqueTo, cc: unique(cc) };
}

/** `{public_url}/actions/<token>`: the one place action links are made (never from a Host header). */
export function actionLink(config: LoadedConfig, token: string): string {
  return `${config.global.public_url.replace(/\/+$/, "")}/actions/${token}`;
}

/** The Message-ID of an alert's email: `<alert_id@host of public_url>`. */
export function messageIdOf(config: LoadedConfig, alertId: string): string {
  let host = messageHosts.get(config);
  if (host === undefined) {
    host = new URL(config.global.public_url).hostname;
    messageHosts.set(config, host);
  }
  return `<${alertId}@${host}>`;
}

/** The host of each loaded config's `public_url` (parsing it for every alert cost ~9 µs each). */
const messageHosts = new WeakMap<LoadedConfig, string>();

/** The first condition block the alert matches (the first block when enrichment is unconditional). */
export function selectBlock(
  runtime: Pick<Runtime, "log">,
  detector: LoadedDetector,
  alert: Record<string, unknown>,
  alertId: string,
  vars: ConditionVars = {},
): {
  block: EnrichmentBlock | undefined;
  matched: boolean;
  /** Conditions that failed (over their budget, or a runtime error), counted as not matching. */
  problems: string[];
} {
  // With enrichment off there are no conditions to match: the alert is sent as it is.
  if (!detector.config.enrichment_conditional || !detector.config.enrichment) {
    return { block: detector.blocks[0], matched: true, problems: [] };
  }
  const problems: string[] = [];
  for (const block of detector.blocks) {
    try {
      if (block.condition?.matches(alert, vars)) {
        return { block, matched: true, problems };
      }
    } catch (err) {
      const error = errorMessage(err);
      runtime.log("condition_error", {
        alert_id: alertId,
        detector: detector.name,
        condition: block.condition?.source,
        error,
      });
      problems.push(
        `${
          JSON.stringify(block.condition?.source.slice(0, 200) ?? "")
        }: ${error}`,
      );
    }
  }
  return { block: undefined, matched: false, problems };
}

/** Runs a block's enrichments concurrently, redacts their results and logs the outcome. */
export async function enrich(
  runtime: Runtime,
  detector: LoadedDetector,
  block: EnrichmentBlock | undefined,
  input: {
    alert: Record<string, unknown>;
    alertId: string;
    /** Told of each placeholder an entry's `e_args` left unfilled. */
    onMissing?: (where: string, placeholder: string) => void;
  },
): Promise<EnrichmentResult[]> {
  const { alert, alertId } = input;
  const { config } = runtime;
  const enrichments = redactDeep(
    await runEnrichments(block?.entries ?? [], {
      alert,
      alertId,
      detector: detector.name,
      registry: runtime.registry,
      cache: runtime.cache,
      settingsFor: (plugin) => settingsFor(config, detector, plugin),
      defaults: {
        timeoutMs: config.global.enrichment_timeout,
        ttlMs: config.global.enrichment_ttl,
      },
      ...(runtime.invoker ? { invoker: runtime.invoker } : {}),
      ...(input.onMissing ? { onMissing: input.onMissing } : {}),
      onResult: (r) => runtime.onEnrichment?.(detector.name, r),
    }),
  );
  runtime.log("enriched", {
    alert_id: alertId,
    detector: detector.name,
    enrichments: enrichments.map((e) => `${e.name}:${e.status}`).join(","),
  });
  return enrichments;
}

/**
 * Buttons of an alert, each linking to a signed action token for its index (the detector's reply
 * buttons by position, storm control's own by their reserved index); no link without a key. `label`
 * fills a label template; the token's tag is over the configured label.
 */
export function buttonLinks(
  runtime: Pick<Runtime, "config" | "clock">,
  alertId: string,
  buttons: {
    index: number;
    button: { name: string; config: { color: string } };
  }[],
  label: (template: string, i: number) => string = (template) => template,
): Promise<{ label: string; color: string; href: string; token: string }[]> {
  const { config } = runtime;
  const expiresAt = (runtime.clock?.() ?? new Date()).getTime() +
    config.global.action_link_ttl;
  const key = config.global.action_keys[0];
  return Promise.all(
    buttons.map(async ({ index, button }) => {
      const token = key
        ? await signActionToken({
          alertId,
          button: index,
          buttonLabel: button.name,
          expiresAt,
        }, key)
        : "";
      return {
        label: label(button.name, index),
        color: colorOf(config.global, button.config.color),
        href: token ? actionLink(config, token) : "",
        token,
      };
    }),
  );
}
