/**
 * The sign-in of the analyst pages (`/alerts`, `/silences`): `ui_auth`'s trusted header, believed
 * only from `trusted_proxies`, else HTTP basic credentials from config, each user compared in
 * constant time (hashes of equal length, every user checked). The caller answers a refusal (and
 * rate-limits failures).
 *
 * @module
 */
import type { Context } from "hono";
import { timingSafeEqual } from "../core/auth/auth.ts";
import { headerSafe } from "../core/headers.ts";
import type { Runtime } from "../core/pipeline/pipeline.ts";
import { remoteAddress, trustedProxies } from "./http/client.ts";

const encoder = new TextEncoder();

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(
    await crypto.subtle.digest("SHA-256", encoder.encode(text)),
  );
}

/** The user behind a request, or why there is none. */
export type Auth = { user: string } | { refused: "off" | "missing" | "bad" };

/** Checks `ui_auth`: the trusted header only when configured, else basic credentials (every user compared). */
export async function authenticate(
  c: Context,
  runtime: Runtime,
): Promise<Auth> {
  const uiAuth = runtime.config.global.ui_auth;
  if (!uiAuth || (!uiAuth.trusted_header && uiAuth.users.length === 0)) {
    return { refused: "off" };
  }
  const proxies = trustedProxies(runtime.config.global.trusted_proxies);
  // The header is believed only from a trusted proxy: anyone else could send it themselves.
  if (uiAuth.trusted_header && proxies.trusts(remoteAddress(c))) {
    const name = headerSafe(c.req.header(uiAuth.trusted_header) ?? "").slice(
      0,
      200,
    );
    if (name) return { user: name };
  }
  const header = c.req.header("authorization");
  const match = header
    ? /^Basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(header)
    : null;
  if (!match) return { refused: "missing" };
  let decoded: string;
  try {
    decoded = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(atob(match[1]!), (ch) => ch.charCodeAt(0)),
    );
  } catch {
    return { refused: "bad" };
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) return { refused: "bad" };
  const [name, password] = [
    await sha256(decoded.slice(0, colon)),
    await sha256(decoded.slice(colon + 1)),
  ];
  let found: string | undefined;
  for (const user of uiAuth.users) {
    const nameOk = timingSafeEqual(name, await sha256(user.username));
    const passwordOk = timingSafeEqual(password, await sha256(user.password));
    if (nameOk && passwordOk && found === undefined) found = user.username;
  }
  return found === undefined ? { refused: "bad" } : { user: found };
}
