/**
 * Schemas of the global config (`blitz.yaml`) and of detector files (the original `mail_conf` keys,
 * verbatim). Unknown keys are rejected so a typo is an error, not a silently ignored setting.
 *
 * @module
 */
import { z } from "zod";
import { MAX_TIMER_MS, parseDuration, parseRate } from "../duration.ts";
import { checkAddress } from "../headers.ts";
import { unknownKeysMessage } from "./_problems.ts";
import { LEVELS, type SeverityConfig } from "../severity.ts";
import { parseCidr } from "../ip.ts";

// No generated code: zod's JIT compiles each object schema with `new Function` on its first parse, which
// a config validated once per process (one `ingest` per alert) pays for and never uses again (~3 ms of
// a cold start), and which the no-eval rule of this project would rather not have at all.
// Unknown keys get a did-you-mean from the object's own keys (`subjet` → `subject`).
z.config({ jitless: true, customError: unknownKeysMessage });

/** A duration parsed to milliseconds, at most `max`; `hint` says what the bound is for. */
function boundedDuration(max: number, hint: string) {
  return z.union([z.string(), z.number()]).transform((value, ctx) => {
    let ms: number;
    try {
      ms = parseDuration(value);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message });
      return z.NEVER;
    }
    if (ms > max) {
      ctx.addIssue({
        code: "custom",
        message: `${value} is too long: ${hint}`,
      });
      return z.NEVER;
    }
    return ms;
  });
}

/**
 * A duration such as `5s` or `72h`, parsed to milliseconds, below 2^31 ms (24 d 20 h): any of them can
 * become a timer, and a JavaScript timer longer than that fires at once.
 */
export const Duration = boundedDuration(
  MAX_TIMER_MS,
  "use at most 24d (2^31 ms; longer timers fire at once)",
);

/**
 * An age (`90d`, `1y` is not a unit: `365d`): compared with timestamps, never a timer, so it may exceed
 * 24 days. Used by retention, action link lifetimes and quota windows; up to 100 years.
 */
export const Age = boundedDuration(
  100 * 365 * 86_400_000,
  "use at most 36500d",
);

/** A rate such as `10/s` or `600/m burst 20`. */
export const RateSpec = z.string().transform((value, ctx) => {
  try {
    return parseRate(value);
  } catch (err) {
    ctx.addIssue({ code: "custom", message: (err as Error).message });
    return z.NEVER;
  }
});

/** A duration above zero. */
const PositiveDuration = Duration.refine(
  (ms) => ms > 0,
  "must be longer than 0 (e.g. 10m)",
);

/** `off`, or a number of emails per hour (`200/h`; `/m` and `/s` are converted). */
export const BreakerSpec = z.string().transform((value, ctx) => {
  if (value.trim() === "off") return null;
  try {
    const { perSecond } = parseRate(value);
    return { perHour: Math.round(perSecond * 3600), text: value.trim() };
  } catch {
    ctx.addIssue({
      code: "custom",
      message:
        `invalid storm_breaker "${value}": use "off" or emails per hour per detector, e.g. "200/h"`,
    });
    return z.NEVER;
  }
});

const LevelSchema = z.enum(LEVELS, {
  error: (issue) =>
    `must be one of critical, high, medium, low, not ${
      JSON.stringify(issue.input)
    }`,
});

/** The detector key `severity` (core/severity.ts applies it). */
export const SeveritySchema: z.ZodType<SeverityConfig> = z.strictObject({
  field: z.string().min(1).optional(),
  cel: z.string().min(1).optional(),
  map: z.record(z.string(), LevelSchema).optional(),
  ranges: z.array(z.strictObject({ min: z.number(), level: LevelSchema }))
    .optional(),
  default: LevelSchema.default("medium"),
}).refine((s) => (s.field === undefined) !== (s.cel === undefined), {
  message: "needs exactly one of field (an alert path) or cel (an expression)",
});

/** A path from the alert's root, as placeholders read it: `src_ip`, `alert.signature_id`. */
const AlertPath = z.string().regex(
  /^[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*$/,
  'must be a path from the alert\'s root such as "src_ip" or "alert.signature_id"',
);

/** A detector's `storm` block (issue 11): fingerprint, realert with backoff, digest, grouping. */
export const StormSchema = z.strictObject({
  fingerprint: z.array(AlertPath, {
    error: (issue) =>
      issue.input === undefined
        ? 'required: the alert paths that make two alerts "the same", e.g. [alert.signature_id, src_ip]'
        : "must be a list of alert paths, e.g. [alert.signature_id, src_ip]",
  }).min(1, "needs at least one alert path, e.g. [src_ip]"),
  realert: PositiveDuration.default(600_000),
  realert_max: PositiveDuration.optional(),
  digest: z.boolean().default(true),
  ack_quiet: PositiveDuration.default(86_400_000),
  group: z.strictObject({
    by: z.array(AlertPath).min(1, "needs at least one fingerprint path"),
    wait: Duration.default(30_000),
    interval: PositiveDuration.default(300_000),
    max_alerts: z.number().int().min(1).max(500).default(50),
  }).optional(),
});
export type StormConfig = z.output<typeof StormSchema>;

/** One address, checked as delivery will check it (nodemailer's address parser), so `check` refuses what delivery would. */
const Address = z.string().superRefine((value, ctx) => {
  try {
    checkAddress(value);
  } catch (err) {
    ctx.addIssue({
      code: "custom",
      message: (err as Error).message.replace(/^Invalid address /, ""),
    });
  }
});
const AddressList = z.union([Address, z.array(Address)]).transform((
  v,
) => (Array.isArray(v) ? v : [v]));

const HostPort = z.string().regex(
  /^(\[[0-9a-fA-F:.]+\]|[\w.-]+):\d{1,5}$/,
  "must be host:port",
);

/**
 * The global `channels`: name → `{type, …}`; each entry is validated by its type in
 * `core/config/channels.ts` once the plugin registry (and so the plugin channel types) is known.
 */
const ChannelsSchema = z.record(
  z.string().regex(
    /^[A-Za-z][\w-]{0,63}$/,
    "channel names are letters, digits, _ and - (at most 64)",
  ),
  z.looseObject({ type: z.string().min(1) }),
).default({});

/** A detector's (or a condition block's) `notify`: the channels its alerts go to, `email` included. */
const Notify = z.array(z.string().min(1));

/** The store backends `store.backend` accepts. */
export const STORE_BACKENDS = ["sqlite", "postgres"] as const;

/** The global config file. */
export const GlobalConfigSchema = z.strictObject({
  // The original mail_conf globals.
  from_email: Address.default("blitz@localhost"),
  to: AddressList.default([]),
  cc: AddressList.default([]),
  mail_colors: z.record(
    z.string(),
    z.string().regex(/^#[0-9a-fA-F]{3,8}$/, "must be a hex color like #f0ad4e"),
  )
    .default({}),
  // Where things are.
  public_url: z.url({ protocol: /^https?$/ }).default("http://127.0.0.1:8080"),
  detectors_dir: z.string().default("detectors"),
  plugin_dirs: z.array(z.string()).default([]),
  data_dir: z.string().default("data"),
  // Delivery.
  smtp: z.string().regex(
    /^smtps?:\/\//,
    "must be smtp://user:pass@host:port or smtps://…",
  ).optional(),
  delivery: z.strictObject({
    max_attempts: z.number().int().min(1).max(100).default(8),
    backoff: Duration.default(2_000),
    max_backoff: Duration.default(600_000),
    timeout: Duration.default(30_000),
    connections: z.number().int().min(1).max(64).default(8),
  }).prefault({}),
  // Channels besides email (Slack, Teams, webhooks, PagerDuty, plugins); detectors name them in notify.
  channels: ChannelsSchema,
  // One-click actions.
  action_keys: z.array(
    z.strictObject({
      id: z.string().regex(/^[\w-]{1,16}$/, "must be 1-16 of [A-Za-z0-9_-]"),
      secret: z.string().min(16, "must be at least 16 characters"),
    }),
  ).superRefine((keys, ctx) => {
    // Links name the key that signed them by id: two keys with one id would verify with the wrong one.
    const ids = new Map<string, number>();
    const secrets = new Map<string, number>();
    keys.forEach((key, i) => {
      const id = ids.get(key.id);
      if (id !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: [i, "id"],
          message:
            `"${key.id}" is already the id of action_keys[${id}]: give each signing key its own id`,
        });
      } else ids.set(key.id, i);
      const secret = secrets.get(key.secret);
      if (secret !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: [i, "secret"],
          message:
            `the same secret as action_keys[${secret}]: a rotated-in key needs a new secret`,
        });
      } else secrets.set(key.secret, i);
    });
  }).default([]),
  action_link_ttl: Age.default(72 * 3_600_000),
  trusted_user_header: z.string().optional(),
  /**
   * CIDRs of the reverse proxies in front of Blitz: their `X-Forwarded-For` names the client, and only
   * their requests may carry `trusted_user_header` / `ui_auth.trusted_header`.
   */
  trusted_proxies: z.array(
    z.string().refine(
      (value) => {
        try {
          parseCidr(value);
          return true;
        } catch {
          return false;
        }
      },
      "must be an IP address or a CIDR block such as 10.0.0.0/8 or 2001:db8::/32",
    ),
  ).default([]),
  ui_auth: z.strictObject({
    trusted_header: z.string().optional(),
    users: z.array(
      z.strictObject({
        username: z.string().min(1),
        password: z.string().min(8),
      }),
    ).default([]),
  }).optional(),
  action_rate_limit: RateSpec.prefault("30/m burst 10"),
  // Enrichment defaults and plugin settings.
  enrichment_timeout: Duration.default(5_000),
  enrichment_ttl: Duration.default(300_000),
  // What one evaluation of a CEL condition may cost: elements its comprehensions visit (estimated
  // before it runs) and time; beyond either it counts as not matching, and the email says why.
  condition_budget: z.strictObject({
    size: z.number().int().min(1).default(100_000),
    time: PositiveDuration.default(100),
  }).prefault({}),
  plugins: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
  databases: z.record(z.string(), z.string()).default({}),
  // HTTP ingest service.
  listen: HostPort.default("127.0.0.1:8080"),
  ingest_tokens: z.array(z.string().min(16, "must be at least 16 characters"))
    .default([]),
  ingest_hmac_secret: z.string().min(16).optional(),
  max_body_bytes: z.number().int().positive().default(1_048_576),
  max_json_depth: z.number().int().min(2).max(512).default(64),
  rate_limit: RateSpec.prefault("200/s burst 400"),
  max_backlog: z.number().int().positive().default(10_000),
  // An alert whose processing was interrupted this many times in a row (a crash each time) is
  // quarantined as failed instead of crashing the service again at every start.
  quarantine_after: z.number().int().min(1).max(100).default(3),
  // V8 heap cap (MB) of each plugin_dirs plugin's sandbox process: past it that process dies alone and
  // its call fails with "plugin crashed: out of memory (cap N MB)".
  plugin_memory_mb: z.number().int()
    .min(32, "must be at least 32 (MB): a plugin's sandbox needs that to start")
    .max(16_384, "must be at most 16384 (MB): it caps one plugin call")
    .default(128),
  // Child processes of all plugin_dirs plugins together (each plugin has at most 4): past it calls
  // queue, each until its deadline, and idle children of other plugins are ended to make room.
  plugin_processes_max: z.number().int()
    .min(
      1,
      "must be at least 1: plugin_dirs plugins run only in sandbox processes",
    )
    .max(
      1024,
      "must be at most 1024 (processes): it caps what plugins may fork",
    )
    .default(16),
  // Connections: at most this many open (more get a fast 503), each must send its request headers
  // within header_timeout, and an idle keep-alive one its next request within idle_timeout.
  max_connections: z.number().int().min(1).max(1_000_000).default(512),
  header_timeout: PositiveDuration.default(10_000),
  idle_timeout: PositiveDuration.default(30_000),
  // Threads that serve HTTP beside the main thread (0: the main thread serves it all). Each listens on
  // `listen` (SO_REUSEPORT, Linux spreads connections over them), reads, authenticates and parses
  // ingest requests and hands the alerts to the main thread's group commit; other requests are
  // passed to the main thread whole. See docs/operations.md, "HTTP threads".
  http_threads: z.number().int().min(0).max(16).default(0),
  // 0 pauses processing: serve accepts and stores alerts (durable 202) and processes none until it
  // restarts with workers (maintenance of the mail relay; the ingest-only benchmark).
  workers: z.number().int().min(0).max(256).default(8),
  // Retention: bodies of finished alerts and their rendered emails are cleared past these ages.
  retention: z.strictObject({
    alerts: Age.default(90 * 86_400_000),
    emails: Age.default(30 * 86_400_000),
    // How often the purge job runs in `serve` (its first run comes after a minute, or sooner).
    every: Duration.default(3_600_000),
  }).prefault({}),
  // Storm control: above this many emails an hour for one detector, digests only (default off).
  storm_breaker: BreakerSpec.prefault("off"),
  // Store backend: the embedded SQLite file in data_dir, or PostgreSQL shared by several instances.
  store: z.strictObject({
    backend: z.enum(STORE_BACKENDS, {
      error: (issue) =>
        `unknown store backend ${JSON.stringify(issue.input)} (known: ${
          STORE_BACKENDS.join(", ")
        }); Elasticsearch is not a store backend`,
    }).default("sqlite"),
    url: z.string().min(1).optional(),
  }).prefault({}).superRefine((store, ctx) => {
    if (store.backend === "postgres" && store.url === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["url"],
        message:
          "backend postgres needs url: postgres://user:password@host:5432/db (usually ${env:BLITZ_DATABASE_URL})",
      });
    }
  }),
}).superRefine((global, ctx) => {
  // A header naming the user is only as good as the proxy that sets it: without trusted_proxies any
  // client could send it itself.
  const headers: [PropertyKey[], string | undefined][] = [
    [["trusted_user_header"], global.trusted_user_header],
    [["ui_auth", "trusted_header"], global.ui_auth?.trusted_header],
  ];
  for (const [path, header] of headers) {
    if (header !== undefined && global.trusted_proxies.length === 0) {
      ctx.addIssue({
        code: "custom",
        path,
        message:
          `${header} is believed only from trusted_proxies: add trusted_proxies with the address of the sign-in proxy that sets it (e.g. [127.0.0.1/32] for one on this host)`,
      });
    }
  }
});

/** The parsed global config. */
export type GlobalConfig = z.output<typeof GlobalConfigSchema>;

const Enabled = z.boolean().default(true);

/** One entry of `enrichments`, keys as in the original plus optional additions. */
export const EnrichmentEntrySchema = z.strictObject({
  e_name: z.string().min(1),
  e_func: z.string().min(1),
  e_key: z.string().default(""),
  enabled: Enabled,
  e_args: z.record(z.string(), z.unknown()).default({}),
  timeout: Duration.optional(),
  ttl: Duration.optional(),
  rate: RateSpec.optional(),
  quota: z.strictObject({ max: z.number().int().positive(), per: Age })
    .optional(),
});
export type EnrichmentEntry = z.output<typeof EnrichmentEntrySchema>;

/** `("name", {…})` as a 2-element list, or `{name: {…}}`, normalised to `{name, config}`. */
function tuple<T extends z.ZodType>(config: T) {
  const pair = z.tuple([z.string().min(1), config]).transform((
    [name, value],
  ) => ({ name, config: value }));
  const single = z.record(z.string(), config).refine(
    (r) => Object.keys(r).length === 1,
    "must have exactly one key",
  )
    .transform((r) => {
      const [name, value] = Object.entries(r)[0]!;
      return { name, config: value as z.output<T> };
    });
  return z.union([pair, single]);
}

/** Config of one action: `enabled` and `return_name` are Blitz's; the rest goes to the plugin. */
export const ActionConfigSchema = z.looseObject({
  enabled: Enabled,
  return_name: z.string().optional(),
});
export type ActionConfig = z.output<typeof ActionConfigSchema>;

export const ActionStepSchema = tuple(ActionConfigSchema);
export type ActionStep = z.output<typeof ActionStepSchema>;

export const ReplyButtonSchema = tuple(z.strictObject({
  color: z.string().default("blue"),
  /** What the button does, shown under it in the email (a template); default: its steps. */
  description: z.string().optional(),
  actions: z.array(ActionStepSchema).min(1),
}));
export type ReplyButton = z.output<typeof ReplyButtonSchema>;

/** A condition block's value: its enrichments, or `{enrichments, notify}` to also choose its channels. */
const ConditionBlockSchema = z.union([
  z.array(EnrichmentEntrySchema),
  z.strictObject({
    enrichments: z.array(EnrichmentEntrySchema).default([]),
    notify: Notify.optional(),
  }),
]);

/** One detector (a device of the original `mail_conf`). */
export const DetectorSchema = z.strictObject({
  subject: z.string().default("Blitz alert"),
  mail_title: z.string().default(""),
  enrichment: z.boolean().default(true),
  enrichment_conditional: z.boolean().default(false),
  enrichments: z.union([
    z.array(EnrichmentEntrySchema),
    z.record(z.string(), ConditionBlockSchema),
  ]).default([]),
  custom_enrichment_data: z.array(z.looseObject({
    index: z.union([z.string(), z.array(z.string())]),
    es_host: z.string(),
    query_data: z.array(z.strictObject({
      method: z.string().default("POST"),
      url: z.string(),
      query: z.string().default(""),
      name: z.string().optional(),
    })),
  })).default([]),
  send_mail_no_condition_match: z.boolean().default(true),
  mailers: z.strictObject({
    override: z.boolean().default(false),
    to: AddressList.default([]),
    cc: AddressList.default([]),
  }).prefault({}),
  include_json: z.boolean().default(false),
  notify: Notify.default(["email"]),
  actions: z.strictObject({
    send: z.array(ActionStepSchema).default([]),
    reply: z.array(ReplyButtonSchema).default([]),
  }).prefault({}),
  id_field: z.string().optional(),
  storm: StormSchema.optional(),
  // Issue 12: the alert's level, the fields an analyst reads first, one request as many alerts.
  severity: SeveritySchema.optional(),
  key_fields: z.record(z.string(), z.string()).default({}),
  split: z.string().min(1).optional(),
  thread_key: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)])
    .transform((v) => (Array.isArray(v) ? v : [v])).optional(),
});
export type DetectorConfig = z.output<typeof DetectorSchema>;
