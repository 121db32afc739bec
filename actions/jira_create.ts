/**
 * `jira_create`: creates a Jira issue and returns its key (e.g. `SOC-123`) under the step's `return_name`.
 *
 * Config as in the original Blitz: `data: {conn_details: {server, username, password}, fields: {…}}`, fields
 * passed through as given (custom fields included). Works with Jira Data Center (REST v2; basic auth with
 * `username` + `password`, or a personal access token in `conn_details.token`, sent as `Bearer`) and Jira
 * Cloud (REST v2 with `username` = the account email and `password` = an API token). `api_version: 3`
 * uses Cloud's REST v3, where a plain-text `description` is wrapped in an Atlassian document.
 *
 * @module
 */
import { z } from "zod";
import { type Config, Version2Client, Version3Client } from "jira.js";
import { type CheckProblem, defineAction, urlProblem } from "../core/plugin.ts";

const ConnDetails = z.strictObject({
  server: z.url({ protocol: /^https?$/ }),
  username: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
  /** Personal access token (Data Center) or OAuth access token: sent as `Authorization: Bearer`. */
  token: z.string().min(1).optional(),
  /** REST API version: 2 (Data Center and Cloud) or 3 (Cloud only). @default 2 */
  api_version: z.union([z.literal(2), z.literal(3)]).default(2),
}).refine(
  (c) =>
    c.token !== undefined ||
    (c.username !== undefined && c.password !== undefined),
  {
    message: "needs token, or username and password",
  },
);

const Params = z.object({
  data: z.strictObject({
    conn_details: ConnDetails,
    fields: z.record(z.string(), z.unknown()),
  }),
});

/** Fields Jira's REST API takes as an object, not a bare string (the original's Python dicts). */
const NAMED_FIELDS: [string, string][] = [
  ["project", "key"],
  ["issuetype", "name"],
  ["priority", "name"],
];

/** Jira answered with an error, or could not be reached. */
function jiraError(err: unknown, server: string): Error {
  const e = err as {
    status?: unknown;
    response?: unknown;
    message?: unknown;
    code?: unknown;
  };
  const response = e.response !== null && typeof e.response === "object"
    ? e.response as Record<string, unknown>
    : {};
  const status = typeof e.status === "number"
    ? e.status
    : typeof response.status === "number"
    ? response.status
    : 0;
  if (status > 0) {
    return new Error(
      `Jira at ${server} answered ${status}: ${
        jiraMessages(response.data) || "no details"
      }`,
    );
  }
  const reason = typeof e.code === "string"
    ? e.code
    : typeof e.message === "string"
    ? e.message.split("\n")[0]
    : "unknown error";
  return new Error(`Cannot reach Jira at ${server}: ${reason}`);
}

/** Jira's error body: `{errorMessages: [...], errors: {field: message}}`. */
function jiraMessages(data: unknown): string {
  if (data === null || typeof data !== "object") {
    return typeof data === "string" ? data.slice(0, 300) : "";
  }
  const body = data as { errorMessages?: unknown; errors?: unknown };
  const out: string[] = [];
  if (Array.isArray(body.errorMessages)) {
    out.push(...body.errorMessages.map(String));
  }
  if (body.errors && typeof body.errors === "object") {
    for (const [field, message] of Object.entries(body.errors)) {
      out.push(`${field}: ${String(message)}`);
    }
  }
  return out.join("; ").slice(0, 500);
}

/** A plain-text description as an Atlassian document (REST v3). */
function toAdf(text: string) {
  return {
    type: "doc",
    version: 1,
    content: text.split(/\n{2,}/).map((paragraph) => ({
      type: "paragraph",
      content: paragraph === "" ? [] : [{ type: "text", text: paragraph }],
    })),
  };
}

export default defineAction({
  name: "jira_create",
  aliases: [],
  params: Params,
  sideEffects: true,
  permissions: { net: true },
  timeoutMs: 15_000,
  check: (config) => {
    const problems: CheckProblem[] = [];
    const data = (config.data ?? {}) as Record<string, unknown>;
    const conn = (data.conn_details ?? {}) as Record<string, unknown>;
    const server = conn.server;
    const urlIssue = typeof server === "string"
      ? urlProblem(server)
      : 'required: the Jira base URL, e.g. "https://jira.example.org"';
    if (urlIssue) {
      problems.push({ path: "data.conn_details.server", message: urlIssue });
    }
    const fields = (data.fields ?? {}) as Record<string, unknown>;
    for (const [field, key] of NAMED_FIELDS) {
      if (typeof fields[field] === "string") {
        problems.push({
          path: `data.fields.${field}`,
          message: `Jira wants an object here: write ${field}: {${key}: ${
            JSON.stringify(fields[field])
          }}`,
        });
      }
    }
    return problems;
  },
  async run({ data }, ctx) {
    const { server, username, password, token, api_version } =
      data.conn_details;
    const host = server.replace(/\/+$/, "");
    const origin = new URL(host).origin;
    // No redirects (a redirected POST must not carry credentials anywhere); abort with the step's deadline.
    const baseRequestConfig = {
      signal: ctx.signal,
      maxRedirects: 0,
      timeout: 14_000,
    };
    const config: Config = token !== undefined
      // With `host` set and no refresh token, jira.js sends the access token as `Bearer` (a Data Center PAT).
      ? {
        host,
        authentication: { oauth2: { accessToken: token } },
        baseRequestConfig,
      }
      : {
        host,
        authentication: { basic: { email: username!, apiToken: password! } },
        baseRequestConfig,
      };
    const fields = { ...data.fields };
    let created: unknown;
    try {
      if (api_version === 3) {
        if (typeof fields.description === "string") {
          fields.description = toAdf(fields.description);
        }
        const client = new Version3Client(config);
        created = await client.issues.createIssue({ fields: fields as never });
      } else {
        const client = new Version2Client(config);
        created = await client.issues.createIssue({ fields: fields as never });
      }
    } catch (err) {
      throw jiraError(err, origin);
    }
    const parsed = z.object({ key: z.string().regex(/^[A-Z][A-Z0-9_]*-\d+$/) })
      .safeParse(created);
    if (!parsed.success) {
      throw new Error(`Jira at ${origin} answered without an issue key`);
    }
    ctx.log(`created ${parsed.data.key}`);
    return parsed.data.key;
  },
});
