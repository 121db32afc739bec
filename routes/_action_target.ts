/**
 * What an action link points at: the token verified (expiry first, then key id and MAC) and resolved to
 * its alert, detector and button, or a {@linkcode PageError} that says why not.
 *
 * @module
 */
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { Runtime } from "../core/pipeline/pipeline.ts";
import type { ButtonTarget } from "../core/pipeline/button.ts";
import { stormButton } from "../core/storm/storm.ts";
import {
  type ActionKey,
  ActionTokenError,
  buttonTagMatches,
  type TokenClaims,
  verifyActionToken,
} from "../core/auth/tokens.ts";

/** A page response that is not the happy path. */
export class PageError extends Error {
  override name = "PageError";
  readonly status: ContentfulStatusCode;
  readonly title: string;
  /** Logged as `reason`; never contains the token. */
  readonly reason: string;
  constructor(
    status: ContentfulStatusCode,
    title: string,
    message: string,
    reason: string,
  ) {
    super(message);
    this.status = status;
    this.title = title;
    this.reason = reason;
  }
}

/** A verified token with everything it points at (the alert, detector and button it runs). */
export interface Target extends ButtonTarget {
  token: string;
  claims: TokenClaims;
  key: ActionKey;
}

/** Verifies the token (expiry first) and finds its alert, detector and button; PageError otherwise. */
export async function resolveTarget(
  runtime: Runtime,
  token: string,
  now: number,
): Promise<Target> {
  const { config, store } = runtime;
  const keys = config.global.action_keys;
  let claims: TokenClaims;
  try {
    claims = await verifyActionToken(token, keys, { now });
  } catch (err) {
    if (!(err instanceof ActionTokenError)) throw err;
    if (err.code === "expired") {
      const when = err.claims
        ? ` on ${
          new Date(err.claims.expiresAt).toISOString().replace("T", " ").slice(
            0,
            19,
          )
        } UTC`
        : "";
      throw new PageError(
        410,
        "Link expired",
        `This action link expired${when}. Nothing was run. Use the alert page or ask for a new alert.`,
        "expired",
      );
    }
    throw new PageError(
      403,
      "Invalid link",
      "This action link is not valid. Nothing was run.",
      err.code,
    );
  }
  const key = keys.find((k) => k.id === claims.kid)!;
  const record = await store.getAlert(claims.alertId);
  if (!record) {
    throw new PageError(
      404,
      "Alert not found",
      "The alert of this link is no longer recorded.",
      "no_alert",
    );
  }
  const detector = config.detectors.get(record.detector);
  const button = detector &&
    (detector.config.actions.reply[claims.button] ??
      stormButton(detector, claims.button));
  if (!detector || !button || !(await buttonTagMatches(claims, button.name))) {
    throw new PageError(
      403,
      "Invalid link",
      "This action link does not match the detector's current buttons. Nothing was run.",
      "button_mismatch",
    );
  }
  return { token, claims, key, record, detector, button };
}
