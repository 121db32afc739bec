/**
 * The PostgreSQL URL of `store.url`: the client's connection options from it, with libpq's `sslmode`
 * and `sslrootcert` honoured (the client itself knows neither a root certificate file nor
 * `verify-ca`), and the URL with its password redacted for logs and errors.
 *
 * @module
 */
import type { Options } from "postgres";

/** The client's `ssl` option. */
type Ssl = NonNullable<Options<never>["ssl"]>;

const SSLMODES = [
  "disable",
  "allow",
  "prefer",
  "require",
  "verify-ca",
  "verify-full",
];

/** `url` with its password replaced by `***` (for logs, errors and `/healthz`). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@]*@/, "//$1:***@");
  }
}

/** What the client needs from `url`: the URL without the TLS parameters, and its `ssl` option. */
export function connectionOf(
  url: string,
  options: { readFile?: (path: string) => string } = {},
): { url: string; ssl: Ssl } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(
      `Invalid store.url "${
        redactUrl(url)
      }": expected postgres://user:password@host:port/database`,
    );
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new TypeError(
      `Invalid store.url "${
        redactUrl(url)
      }": expected postgres://user:password@host:port/database`,
    );
  }
  const mode = parsed.searchParams.get("sslmode") ?? undefined;
  const rootcert = parsed.searchParams.get("sslrootcert") ?? undefined;
  parsed.searchParams.delete("sslmode");
  parsed.searchParams.delete("sslrootcert");
  if (mode !== undefined && !SSLMODES.includes(mode)) {
    throw new TypeError(
      `Invalid sslmode "${mode}" in store.url (known: ${SSLMODES.join(", ")})`,
    );
  }
  const readFile = options.readFile ?? Deno.readTextFileSync;
  const ca = rootcert && rootcert !== "system" ? readFile(rootcert) : undefined;
  // libpq: a root certificate makes "require" verify the chain (as verify-ca); "system" means verify-full.
  const effective = rootcert === "system"
    ? "verify-full"
    : mode === "require" && ca !== undefined
    ? "verify-ca"
    : mode ?? "prefer";
  let ssl: Ssl;
  if (effective === "disable") ssl = false;
  else if (effective === "allow" || effective === "prefer") ssl = "prefer";
  else if (effective === "require") ssl = "require";
  else {
    ssl = {
      rejectUnauthorized: true,
      ...(ca !== undefined ? { ca } : {}),
      // verify-ca checks the chain, not the host name.
      ...(effective === "verify-ca"
        ? { checkServerIdentity: () => undefined }
        : {}),
    };
  }
  return { url: parsed.toString(), ssl };
}
