/**
 * A fake Slack Web API on loopback, for the real `@slack/web-api` client pointed at it through its
 * `slackApiUrl` (a channel's `api_url`). It checks what Slack checks: the bot token
 * (`Authorization: Bearer`), the form-encoded body the client sends, and the Block Kit limits (at most
 * 50 blocks, unique `action_id`s, button text ≤ 75 characters and value ≤ 2000, header ≤ 150, section
 * text ≤ 3000, a button has a `value` or a `url`); a violation is answered `{ok: false, error:
 * "invalid_blocks"}` and recorded in `problems`. `chat.update` must name a message it posted.
 *
 * @module
 */
import { type Receiver, startReceiver } from "./_http.ts";

/** One call the fake answered. */
export interface SlackCall {
  method: string;
  /** The call's arguments, nested JSON fields (blocks, attachments) decoded. */
  args: Record<string, unknown>;
  /** When the fake answered it (Date.now()): the client has the answer no sooner. */
  at: number;
}

/** A running fake; close it in `finally`. */
export interface SlackFake {
  /** `http://127.0.0.1:PORT/api/`: the channel's `api_url`. */
  apiUrl: string;
  calls: SlackCall[];
  /** Block Kit problems found (a correct Blitz leaves this empty). */
  problems: string[];
  /** Resolves at the next call of `method` (already made ones count from `after`). */
  next(method: string, after?: number): Promise<SlackCall>;
  close(): Promise<void>;
}

/** Starts the fake; `rateLimitFirst` answers that many `chat.postMessage` calls 429 + `Retry-After`. */
export function startSlackFake(options: {
  token: string;
  /** Users `users.info` knows, id → email. */
  users?: Record<string, string>;
  rateLimitFirst?: number;
  retryAfterS?: number;
  /** How long a 429 takes to come back (a slow round trip). @default 0 */
  rateLimitDelayMs?: number;
}): SlackFake {
  const calls: SlackCall[] = [];
  const problems: string[] = [];
  const posted = new Set<string>();
  const waiters: {
    method: string;
    after: number;
    resolve: (c: SlackCall) => void;
  }[] = [];
  let limited = 0;
  let seq = 100;
  let receiver: Receiver | undefined = undefined;
  const answer = (call: SlackCall, body: Record<string, unknown>) => {
    calls.push(call);
    for (const w of [...waiters]) {
      const index = calls.length - 1;
      if (w.method === call.method && index >= w.after) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(call);
      }
    }
    return Response.json(body);
  };
  receiver = startReceiver(async ({ method, path, headers, body }) => {
    const name = path.replace(/^\/api\//, "");
    if (method !== "POST") {
      return Response.json({ ok: false, error: "method_not_allowed" });
    }
    if (headers.get("authorization") !== `Bearer ${options.token}`) {
      return Response.json({ ok: false, error: "invalid_auth" });
    }
    if (
      !/application\/x-www-form-urlencoded/.test(
        headers.get("content-type") ?? "",
      )
    ) {
      return Response.json({ ok: false, error: "invalid_form_data" });
    }
    const args: Record<string, unknown> = {};
    for (const [key, value] of new URLSearchParams(body)) {
      args[key] = /^(blocks|attachments)$/.test(key)
        ? JSON.parse(value)
        : value;
    }
    const call = { method: name, args, at: Date.now() };
    if (name === "chat.postMessage" || name === "chat.update") {
      if (
        name === "chat.postMessage" && limited < (options.rateLimitFirst ?? 0)
      ) {
        limited++;
        const delay = options.rateLimitDelayMs ?? 0;
        if (delay > 0) await new Promise((r) => setTimeout(r, delay));
        call.at = Date.now();
        calls.push(call);
        return new Response(
          JSON.stringify({ ok: false, error: "ratelimited" }),
          {
            status: 429,
            headers: { "retry-after": String(options.retryAfterS ?? 1) },
          },
        );
      }
      const found = blockProblems(args);
      if (typeof args.channel !== "string" || !args.channel) {
        found.push("channel missing");
      }
      if (typeof args.text !== "string" || !args.text) {
        found.push("text missing (the notification fallback)");
      }
      if (found.length) {
        problems.push(...found);
        return answer(call, {
          ok: false,
          error: "invalid_blocks",
          errors: found,
        });
      }
      if (name === "chat.update") {
        if (!posted.has(`${args.channel}/${args.ts}`)) {
          return answer(call, { ok: false, error: "message_not_found" });
        }
        return answer(call, { ok: true, channel: args.channel, ts: args.ts });
      }
      const ts = `1700000000.000${seq++}`;
      posted.add(`C0SOC/${ts}`);
      return answer(call, { ok: true, channel: "C0SOC", ts });
    }
    if (name === "chat.postEphemeral") {
      return answer(call, { ok: true, message_ts: "1.2" });
    }
    if (name === "users.info") {
      const email = options.users?.[String(args.user)];
      return email
        ? answer(call, {
          ok: true,
          user: { id: args.user, name: "alice", profile: { email } },
        })
        : answer(call, { ok: false, error: "user_not_found" });
    }
    return answer(call, { ok: false, error: "unknown_method" });
  });
  return {
    apiUrl: `${receiver.url}/api/`,
    calls,
    problems,
    next(method, after = calls.length) {
      const done = calls.slice(after).find((c) => c.method === method);
      if (done) return Promise.resolve(done);
      return new Promise((resolve, reject) => {
        const w = { method, after, resolve };
        waiters.push(w);
        setTimeout(() => {
          if (waiters.includes(w)) {
            waiters.splice(waiters.indexOf(w), 1);
            reject(new Error(`Timed out waiting for Slack ${method}`));
          }
        }, 20_000);
      });
    },
    close: () => receiver!.close(),
  };
}

/** What Slack would refuse in a message's blocks (top level and inside attachments). */
function blockProblems(args: Record<string, unknown>): string[] {
  const blocks = [
    ...((args.blocks as Record<string, unknown>[] | undefined) ?? []),
    ...((args.attachments as
      | { blocks?: Record<string, unknown>[] }[]
      | undefined) ?? [])
      .flatMap((a) => a.blocks ?? []),
  ];
  const problems: string[] = [];
  if (blocks.length > 50) problems.push(`${blocks.length} blocks (at most 50)`);
  const ids = new Set<string>();
  for (const block of blocks) {
    const text = (block.text as { text?: string } | undefined)?.text ?? "";
    if (block.type === "header" && text.length > 150) {
      problems.push("header text over 150");
    }
    if (block.type === "section" && text.length > 3000) {
      problems.push("section text over 3000");
    }
    for (
      const field of (block.fields as { text: string }[] | undefined) ?? []
    ) {
      if (field.text.length > 2000) problems.push("field text over 2000");
    }
    if (block.type !== "actions") continue;
    const elements = block.elements as Record<string, unknown>[];
    if (elements.length > 25) {
      problems.push("more than 25 elements in an actions block");
    }
    for (const e of elements) {
      const id = String(e.action_id);
      if (ids.has(id)) problems.push(`duplicate action_id "${id}"`);
      ids.add(id);
      const label = (e.text as { text?: string } | undefined)?.text ?? "";
      if (!label || label.length > 75) {
        problems.push(`button text "${label}" not 1-75 characters`);
      }
      if (typeof e.value === "string" && e.value.length > 2000) {
        problems.push("button value over 2000");
      }
      if (e.value === undefined && e.url === undefined) {
        problems.push("button with neither value nor url");
      }
    }
  }
  return problems;
}
