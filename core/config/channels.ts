/**
 * The global `channels:` block: named delivery channels besides email (Slack, Microsoft Teams, signed
 * webhooks, PagerDuty, and `defineChannel` plugins), each with a `type`. The global schema keeps each
 * entry loose (`{type, …}`); {@link checkChannels} validates it against its type's schema once the
 * plugin registry is known, so a plugin's own type can be named, and reports problems as
 * `<file>: channels.<name>.<key>: <message>` with a did-you-mean for a misspelt type.
 *
 * Every channel has `api_url`, the base URL its requests go to (tests and proxies): the Slack Web API
 * base, PagerDuty's Events API base, or for Teams and webhooks the scheme, host and port that replace
 * those of the configured URL (its path and query are kept).
 *
 * @module
 */
import { z } from "zod";
import { Duration } from "./schema.ts";
import { zodProblems } from "./_problems.ts";
import { registerUrlSecrets } from "../secrets.ts";
import { didYouMean } from "../suggest.ts";

/** The built-in channel types. */
export const CHANNEL_TYPES = [
  "slack",
  "teams",
  "webhook",
  "pagerduty",
] as const;

const HttpUrl = z.url({ protocol: /^https?$/ });
const common = {
  api_url: HttpUrl.optional(),
  /** Deadline of one request. */
  timeout: Duration.default(10_000),
  /** Attempts before the delivery is `failed` (default: the global `delivery.max_attempts`). */
  max_attempts: z.number().int().min(1).max(100).optional(),
};

/** `type: slack`: a Slack app's bot token posting to one channel. */
export const SlackChannelSchema = z.strictObject({
  type: z.literal("slack"),
  token: z.string().regex(
    /^xox[a-z]-/,
    'must be a Slack bot token ("xoxb-…"), usually "${env:SLACK_BOT_TOKEN}"',
  ),
  channel: z.string().min(1),
  signing_secret: z.string().min(8).optional(),
  allowed_users: z.array(
    z.string().regex(
      /^[UW][A-Z0-9]+$/,
      "must be a Slack user id such as U012ABC",
    ),
  ).optional(),
  ...common,
});

/** `type: teams`: a Teams Workflows "when a webhook request is received" URL. */
export const TeamsChannelSchema = z.strictObject({
  type: z.literal("teams"),
  webhook_url: HttpUrl,
  ...common,
});

/** `type: webhook`: a JSON document signed with the Standard Webhooks scheme. */
export const WebhookChannelSchema = z.strictObject({
  type: z.literal("webhook"),
  url: HttpUrl,
  secret: z.string().regex(
    /^whsec_[A-Za-z0-9+/]{22,}={0,2}$/,
    'must be "whsec_" and base64 of at least 16 random bytes, e.g. whsec_$(head -c 32 /dev/urandom | base64)',
  ),
  ...common,
});

/** `type: pagerduty`: PagerDuty Events API v2 with an integration's routing key. */
export const PagerDutyChannelSchema = z.strictObject({
  type: z.literal("pagerduty"),
  routing_key: z.string().min(
    20,
    "must be the 32-character integration key of an Events API v2 integration",
  ),
  ...common,
});

/** A channel of a `defineChannel` plugin: its `params` go to the plugin. */
export const PluginChannelSchema = z.strictObject({
  type: z.string(),
  params: z.record(z.string(), z.unknown()).default({}),
  ...common,
});

export type SlackChannelConfig = z.output<typeof SlackChannelSchema>;
export type TeamsChannelConfig = z.output<typeof TeamsChannelSchema>;
export type WebhookChannelConfig = z.output<typeof WebhookChannelSchema>;
export type PagerDutyChannelConfig = z.output<typeof PagerDutyChannelSchema>;
export type PluginChannelConfig = z.output<typeof PluginChannelSchema>;

/** One validated channel, with its name. */
export type ChannelConfig =
  & { name: string }
  & (
    | BuiltIn<SlackChannelConfig>
    | BuiltIn<TeamsChannelConfig>
    | BuiltIn<WebhookChannelConfig>
    | BuiltIn<PagerDutyChannelConfig>
    | (PluginChannelConfig & { plugin: true })
  );
type BuiltIn<T> = T & { plugin?: undefined };

const SCHEMAS = {
  slack: SlackChannelSchema,
  teams: TeamsChannelSchema,
  webhook: WebhookChannelSchema,
  pagerduty: PagerDutyChannelSchema,
} as const;

/**
 * Validates each channel by its type; `pluginTypes` are the channel plugins' names. Returns the
 * channels by name and pushes problems. Secrets inside URLs (the Teams `sig=`) are registered with
 * the redactor.
 */
export function checkChannels(
  file: string,
  raw: Record<string, { type: string }>,
  options: { pluginTypes: string[]; anyPlugin?: boolean; problems: string[] },
): Map<string, ChannelConfig> {
  const channels = new Map<string, ChannelConfig>();
  for (const [name, value] of Object.entries(raw)) {
    if (name === "email") {
      options.problems.push(
        `${file}: channels.email: "email" is the built-in email channel; give this channel another name`,
      );
      continue;
    }
    const type = value.type;
    const schema = SCHEMAS[type as keyof typeof SCHEMAS];
    if (
      !schema && !options.anyPlugin && !options.pluginTypes.includes(type)
    ) {
      const known = [...CHANNEL_TYPES, ...options.pluginTypes];
      options.problems.push(
        `${file}: channels.${name}.type: unknown channel type "${type}"${
          didYouMean(type, known)
        }`,
      );
      continue;
    }
    const parsed = (schema ?? PluginChannelSchema).safeParse(value);
    if (!parsed.success) {
      options.problems.push(
        ...zodProblems(file, `channels.${name}`, parsed.error),
      );
      continue;
    }
    const channel = (schema
      ? { name, ...parsed.data }
      : { name, ...parsed.data, plugin: true }) as ChannelConfig;
    if (!channel.plugin && channel.type === "teams") {
      registerUrlSecrets(channel.webhook_url);
    }
    channels.set(name, channel);
  }
  return channels;
}
