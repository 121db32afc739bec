/**
 * `POST /ingest/:detector`: authenticated, rate-limited, bounded ingest. Answers 202 with the alert ids
 * only after the alerts are durably in the store; a retry under the same `Idempotency-Key` (or the same
 * value of the detector's `id_field`) returns the original ids and creates nothing.
 *
 * Checks run cheapest first: token (401), rate limit per token (429), shutdown and backlog (503),
 * detector (404), media type (415), body size (413), signature (401), JSON (400); a store that cannot
 * commit (the database is away, the disk is full) is a 503 with `Retry-After`, never a 202.
 *
 * @module
 */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { AppDeps } from "./_deps.ts";
import { AuthError, IngestAuth } from "../core/auth/auth.ts";
import { bodyKind, jsonError, parseAlerts, readBody } from "./http/body.ts";
import { alertRows, IDEMPOTENCY_KEY } from "./_ingest_rows.ts";
import { canonicalJson } from "../core/pipeline/enrich.ts";
import { RateLimiter } from "./http/rate_limit.ts";
import { rateKey, remoteAddress, trustedProxies } from "./http/client.ts";
import { isDiskFull, type NewAlert } from "../core/store/store.ts";
import type { BacklogSlots } from "../core/service/queue.ts";
import { errorMessage } from "../core/errors.ts";

/** Seconds a sender should wait when the backlog is full or the service is stopping. */
export const BUSY_RETRY_AFTER_S = 10;

/** Seconds a sender should wait when the store could not commit (the database is away). */
export const STORE_RETRY_AFTER_S = 5;

/** Seconds a sender should wait when the store's disk is full (someone has to free space). */
export const DISK_FULL_RETRY_AFTER_S = 30;

/**
 * Handles one `POST /ingest/<name>`: the 202, or the HTTPException's response for a refused request
 * (counted in the metrics either way); any other error is thrown for the app's error exit. `serve`
 * calls it straight from Deno.serve (no router, see `routes/app.ts`), the Hono route below too.
 */
export type IngestHandler = (
  request: Request,
  name: string,
  /** The connection's remote address (Deno.serve's `info.remoteAddr.hostname`), when there is one. */
  remote?: string,
) => Promise<Response>;

/**
 * Failed authentications (401) a client may cause: 30 a minute, 10 at once. Beyond that the answer is
 * 429 and nothing is logged, so a flood of bad tokens costs neither log lines nor token checks' worth
 * of attention. Clients are keyed as the other limits are (IPv6 by /64, behind trusted_proxies the
 * forwarded address).
 */
const AUTH_FAILURES = { perSecond: 0.5, burst: 10 };

/** The ingest route, on `handler` (made here unless given, to share one with `serve`'s fast path). */
export function ingestRoutes(
  deps: AppDeps,
  handler: IngestHandler = ingestHandler(deps),
): Hono {
  const app = new Hono();
  app.post(
    "/ingest/:detector",
    (c) => handler(c.req.raw, c.req.param("detector"), remoteAddress(c)),
  );
  app.all(
    "/ingest/:detector",
    (c) =>
      c.json({ error: "Method not allowed: use POST" }, 405, { Allow: "POST" }),
  );
  return app;
}

/**
 * An ingest request an HTTP thread (`routes/http_threads.ts`) authenticated, read and parsed: its
 * alerts, for the main thread to commit. The token's index, whether the signature verified, the
 * `Idempotency-Key` header, and how many rows lack the detector's `id_field`.
 */
export interface FrontRequest {
  name: string;
  token: number;
  signed: boolean;
  key: string | null;
  rows: NewAlert[];
  missingId: number;
}

/** An answer as plain data (status, header pairs, body text), to pass to another thread. */
export interface Answer {
  status: number;
  headers: [string, string][];
  body: string;
}

const JSON_TYPE = { "Content-Type": "application/json; charset=utf-8" };

/** The ingest handler: its token check, rate limiter and the rest, built once. */
export function ingestHandler(deps: AppDeps): IngestHandler {
  return ingestEndpoints(deps).handle;
}

/**
 * The ingest handler (`handle`) and, on the same token check, rate limiter and backlog, `commit`: the
 * rest of the ingest of a {@link FrontRequest} (rate limit 429, shutdown and backlog 503, then the
 * store), answered like `handle` answers. `headers`: what every answer of `handle` carries besides its
 * own (`serve`'s security headers): the 202 is made with them at once (setting them on a finished
 * Response afterwards cost ~1-2 µs of a single-alert request's CPU).
 */
export function ingestEndpoints(
  deps: AppDeps,
  options: { headers?: Record<string, string> } = {},
): {
  handle: IngestHandler;
  commit: (front: FrontRequest) => Promise<Answer>;
} {
  const { runtime, queue, metrics } = deps;
  const global = runtime.config.global;
  const now = deps.now ?? Date.now;
  const auth = IngestAuth.create({
    tokens: global.ingest_tokens,
    hmacSecret: global.ingest_hmac_secret,
    now,
  });
  const limiter = new RateLimiter(global.rate_limit, { now });
  const failures = new RateLimiter(AUTH_FAILURES, { now });
  const proxies = trustedProxies(global.trusted_proxies);
  const extra = Object.entries(options.headers ?? {});
  /** The rate limiter's key of each token (made once, not per request). */
  const tokenKeys = global.ingest_tokens.map((_, i) => `token:${i}`);
  const tokenKey = (token: number) => tokenKeys[token] ?? `token:${token}`;
  const acceptedHeaders: [string, string][] = [
    ...Object.entries(JSON_TYPE),
    ...extra,
  ];

  /** Runs one ingest: its 202 body, or the refusal's response; counted either way. */
  const answer = async (
    run: (held: { slots?: BacklogSlots }) => Promise<string>,
  ): Promise<string | Response> => {
    const held: { slots?: BacklogSlots } = {};
    try {
      const body = await run(held);
      metrics.request("/ingest", 202);
      return body;
    } catch (err) {
      if (!(err instanceof HTTPException)) {
        metrics.request("/ingest", 500);
        throw err;
      }
      metrics.request("/ingest", err.status);
      return err.getResponse();
    } finally {
      held.slots?.release();
    }
  };
  return {
    handle: async (request, name, remote) => {
      const out = await answer((held) => ingest(request, name, remote, held));
      if (typeof out === "string") {
        return new Response(out, { status: 202, headers: acceptedHeaders });
      }
      for (const [k, v] of extra) out.headers.set(k, v);
      return out;
    },
    commit: async (front) => {
      const out = await answer((held) => commitFront(front, held));
      if (typeof out === "string") {
        return { status: 202, headers: Object.entries(JSON_TYPE), body: out };
      }
      return {
        status: out.status,
        headers: [...out.headers],
        body: await out.text(),
      };
    },
  };

  /** The main thread's part of a {@link FrontRequest}: the checks that need its state, then the store. */
  function commitFront(
    front: FrontRequest,
    held: { slots?: BacklogSlots },
  ): Promise<string> {
    const rate = limiter.take(tokenKey(front.token), now());
    if (!rate.ok) throw rateLimited(rate.retryAfterS);
    if (!queue.running) throw shuttingDown();
    const slots = queue.reserve(front.rows.length, global.max_backlog);
    if (!slots) throw backlogFull();
    held.slots = slots;
    // A reload may have removed the detector since the thread looked it up.
    if (!runtime.config.detectors.has(front.name)) {
      throw unknownDetector(front.name);
    }
    return accept(front.rows, front);
  }

  function rateLimited(retryAfterS: number): HTTPException {
    return jsonError(
      429,
      `Rate limit of this token exceeded: retry after ${retryAfterS} s`,
      { "Retry-After": String(retryAfterS) },
    );
  }

  function shuttingDown(): HTTPException {
    return jsonError(503, "Blitz is shutting down: retry shortly", {
      "Retry-After": String(BUSY_RETRY_AFTER_S),
    });
  }

  function unknownDetector(name: string): HTTPException {
    return jsonError(
      404,
      `Unknown detector "${
        name.slice(0, 100)
      }": check the detector name in the URL /ingest/<detector>`,
    );
  }

  /**
   * An `Idempotency-Key` sent again with a different body is a client bug, not a retry: 422 (as
   * payment APIs answer), with the original ids. Only when nothing of the request was stored new (a
   * batch that added alerts gets its 202 and an `idempotency_conflict` log line). An alert whose body
   * retention already cleared cannot be compared and counts as the same.
   */
  async function refuseReusedKey(
    rows: NewAlert[],
    results: { id: string; duplicate: boolean }[],
    key: string | null,
  ): Promise<void> {
    if (key === null) return;
    const differing: number[] = [];
    for (const [i, result] of results.entries()) {
      const row = rows[i]!;
      if (!result.duplicate || !row.idempotency_key?.startsWith("key:")) {
        continue;
      }
      const original = await runtime.store.getAlert(result.id);
      if (
        original?.alert !== undefined &&
        canonicalJson(original.alert) !== canonicalJson(row.alert)
      ) differing.push(i);
    }
    if (differing.length === 0) return;
    if (results.some((r) => !r.duplicate)) {
      runtime.log("idempotency_conflict", {
        detector: rows[0]!.detector,
        alerts: differing.length,
        note:
          "Idempotency-Key reused with a different body; the batch's new alerts were accepted",
      });
      return;
    }
    throw new HTTPException(422, {
      res: new Response(
        JSON.stringify({
          error: `Idempotency-Key ${
            JSON.stringify(key.slice(0, 200))
          } was already used with a different body${
            rows.length > 1
              ? ` (${differing.length} of ${rows.length} alerts differ)`
              : ""
          }: send a new key for a new alert; nothing was stored`,
          ids: results.map((r) => r.id),
        }),
        {
          status: 422,
          headers: { "Content-Type": "application/json; charset=utf-8" },
        },
      ),
    });
  }

  function backlogFull(): HTTPException {
    return jsonError(
      503,
      `Backlog full (${queue.backlog} alerts waiting): retry later`,
      { "Retry-After": String(BUSY_RETRY_AFTER_S) },
    );
  }

  /** A failed authentication: logged and answered 401 within the client's budget, else 429. */
  function refuse(
    request: Request,
    remote: string | undefined,
    err: AuthError,
    name: string,
  ): HTTPException {
    const client = proxies.clientOf(remote, request.headers);
    const budget = failures.take(rateKey(client), now());
    if (!budget.ok) {
      return jsonError(
        429,
        `Too many failed authentications from this address: retry after ${budget.retryAfterS} s`,
        { "Retry-After": String(budget.retryAfterS) },
      );
    }
    runtime.log("ingest_auth_failed", {
      client_ip: client ?? "unknown",
      detector: name.slice(0, 100),
      reason: err.message,
    });
    return jsonError(401, err.message, {
      "WWW-Authenticate": 'Bearer realm="blitz"',
    });
  }

  async function ingest(
    request: Request,
    name: string,
    remote: string | undefined,
    held: { slots?: BacklogSlots },
  ): Promise<string> {
    let token: number;
    try {
      token = auth.bearer(request.headers.get("authorization"));
    } catch (err) {
      if (err instanceof AuthError) throw refuse(request, remote, err, name);
      throw err;
    }
    const rate = limiter.take(tokenKey(token), now());
    if (!rate.ok) throw rateLimited(rate.retryAfterS);
    if (!queue.running) throw shuttingDown();
    // One slot held now, before the body is read; a batch holds the rest once parsed (below).
    const slots = queue.reserve(1, global.max_backlog);
    if (!slots) throw backlogFull();
    held.slots = slots;
    const detector = runtime.config.detectors.get(name);
    if (!detector) throw unknownDetector(name);
    const kind = bodyKind(request.headers.get("content-type"));
    const key = request.headers.get("idempotency-key");
    if (key !== null && !IDEMPOTENCY_KEY.test(key)) {
      throw jsonError(
        400,
        "Idempotency-Key must be 1 to 200 visible ASCII characters",
      );
    }
    const bytes = await readBody(request, { maxBytes: global.max_body_bytes });
    let signed: boolean;
    try {
      signed = auth.verifySignature(
        {
          timestamp: request.headers.get("x-blitz-timestamp"),
          signature: request.headers.get("x-blitz-signature"),
        },
        bytes,
        now(),
      );
    } catch (err) {
      if (err instanceof AuthError) throw refuse(request, remote, err, name);
      throw err;
    }
    const parsed = parseAlerts(bytes, {
      kind,
      maxDepth: global.max_json_depth,
    });
    const { rows, missingId } = alertRows(parsed, {
      detector,
      name,
      key,
      receivedAt: new Date(now()).toISOString(),
    });
    if (rows.length > 1 && !slots.grow(rows.length - 1)) {
      throw backlogFull();
    }
    return await accept(rows, { name, token, signed, key, missingId });
  }

  /**
   * The alerts of an authenticated, parsed request with their backlog slots held: enqueued (202 once
   * durable), logged and counted; 503 when the store cannot commit, 422 for a reused Idempotency-Key.
   */
  async function accept(
    rows: NewAlert[],
    request: {
      name: string;
      token: number;
      signed: boolean;
      key: string | null;
      missingId: number;
    },
  ): Promise<string> {
    const { name, token, signed, key, missingId } = request;
    const idField = runtime.config.detectors.get(name)?.config.id_field;
    if (missingId > 0) {
      runtime.log("idempotency_missing", {
        detector: name,
        id_field: idField,
        alerts: missingId,
        note: "accepted without deduplication by id_field",
      });
    }
    let results;
    try {
      results = await queue.enqueue(rows);
    } catch (err) {
      // Nothing was committed (a 202 only follows a COMMIT): the sender keeps the alerts and retries.
      runtime.log("store_error", {
        detector: name,
        alerts: rows.length,
        error: errorMessage(err),
        during: "ingest",
      });
      const full = isDiskFull(err);
      throw jsonError(
        503,
        full
          ? "The store's disk is full: nothing was accepted, retry later (alerts already accepted are kept and delivered)"
          : "The store did not record the alerts (is the database reachable?): nothing was accepted, retry shortly",
        {
          "Retry-After": String(
            full ? DISK_FULL_RETRY_AFTER_S : STORE_RETRY_AFTER_S,
          ),
        },
      );
    }
    if (key !== null) await refuseReusedKey(rows, results, key);
    let duplicates = 0;
    for (const result of results) {
      if (result.duplicate) duplicates++;
      else {runtime.log("accepted", {
          alert_id: result.id,
          detector: name,
          token_index: token,
          ...(signed ? { signed } : {}),
        });}
    }
    if (duplicates > 0) {
      runtime.log("duplicate", {
        detector: name,
        alerts: duplicates,
        ids: results.filter((r) => r.duplicate).map((r) => r.id),
      });
      metrics.duplicates(name, duplicates);
    }
    metrics.ingested(name, results.length - duplicates);
    return JSON.stringify({
      accepted: results.length,
      ids: results.map((r) => r.id),
      duplicates,
    });
  }
}
