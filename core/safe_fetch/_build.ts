/**
 * The build step of `safeFetch`: URLs and text from config templates. {@linkcode buildUrl} fills
 * `{key}` placeholders with encoded alert values and refuses placeholders in the host, so alert data can
 * never choose where a request goes; {@linkcode fillText} fills plain text. Re-exported by `safe_fetch.ts`.
 *
 * @module
 */
import { placeholders, replacePlaceholders } from "../template.ts";

/**
 * Builds a URL from a config template, filling `{key}` placeholders with `encodeURIComponent`ed values.
 * A key is looked up as is, then as a dotted path (`{source.ip}`). Throws TypeError when a placeholder sits
 * in the scheme, host or port, when a key is missing or not a string/number/boolean, or when a value would
 * form a `.`/`..` path segment, so alert data can never choose the host or climb the path.
 */
export function buildUrl(
  template: string,
  values: Record<string, unknown>,
): URL {
  const slashes = template.indexOf("//");
  if (slashes === -1) {
    throw new TypeError(`URL template must be absolute: ${template}`);
  }
  const authorityEnd = findAuthorityEnd(template, slashes + 2);
  const head = template.slice(0, authorityEnd);
  const firstPlaceholder = placeholders(template)[0]?.index ?? -1;
  if (firstPlaceholder !== -1 && firstPlaceholder < authorityEnd) {
    throw new TypeError(
      `URL template must not have placeholders in the scheme, host or port: ${head}`,
    );
  }

  const rest = template.slice(authorityEnd);
  const pathEnd = rest.search(/[?#]/);
  const path = pathEnd === -1 ? rest : rest.slice(0, pathEnd);
  const tail = pathEnd === -1 ? "" : rest.slice(pathEnd);
  const filledPath = path.split("/").map((segment) => {
    const filled = fill(segment, values);
    if (filled !== segment && /^(\.|%2e){1,2}$/i.test(filled)) {
      throw new TypeError(
        `URL placeholder value must not form a "." or ".." path segment: ${segment}`,
      );
    }
    return filled;
  }).join("/");

  const result = new URL(head + filledPath + fill(tail, values));
  const expected = new URL(head);
  if (result.protocol !== expected.protocol || result.host !== expected.host) {
    throw new TypeError(
      `URL template host changed after filling placeholders: ${head}`,
    );
  }
  return result;
}

/**
 * Fills `{key}` placeholders in plain text with values as strings, in one pass (a value containing
 * `{other}` stays literal). Keys are looked up as is, then as dotted paths; TypeError when missing.
 */
export function fillText(
  template: string,
  values: Record<string, unknown>,
): string {
  return replacePlaceholders(
    template,
    values,
    ({ path, value }) => scalarText(path, value),
  );
}

function fill(text: string, values: Record<string, unknown>): string {
  return replacePlaceholders(
    text,
    values,
    ({ path, value }) => encodeURIComponent(scalarText(path, value)),
  );
}

/** A placeholder's value as text (paths and defaults resolved by core/template.ts); TypeError when unusable. */
function scalarText(key: string, value: unknown): string {
  if (value === undefined || value === null) {
    throw new TypeError(`Missing value for placeholder {${key}}`);
  }
  if (typeof value === "string") return value;
  if (
    typeof value === "number" || typeof value === "boolean" ||
    typeof value === "bigint"
  ) return String(value);
  throw new TypeError(
    `Placeholder {${key}} must be a string, number or boolean, got ${typeof value}`,
  );
}

function findAuthorityEnd(template: string, from: number): number {
  for (let i = from; i < template.length; i++) {
    const char = template[i];
    if (char === "/" || char === "?" || char === "#" || char === "\\") return i;
  }
  return template.length;
}

/**
 * What is wrong with a URL (or URL template) from config, for `check`: no scheme (`example.com/hook`),
 * a scheme other than http(s), a placeholder in the scheme, host or port, or no host. Undefined when fine.
 */
export function urlProblem(template: string): string | undefined {
  const shown = JSON.stringify(template);
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(template)?.[1];
  if (scheme === undefined) {
    const host = template.replace(/^\/*/, "");
    return `${shown} has no scheme: write "https://${host}"`;
  }
  if (!/^https?$/i.test(scheme)) {
    return `${shown}: the scheme must be http or https, not "${scheme}"`;
  }
  const authorityEnd = findAuthorityEnd(template, scheme.length + 3);
  const authority = template.slice(scheme.length + 3, authorityEnd);
  if (/[{}]/.test(authority)) {
    return `${shown}: placeholders may fill the path and query, never the host or port (alert data must not choose where a request goes)`;
  }
  try {
    if (!new URL(template.slice(0, authorityEnd)).hostname) throw new Error();
  } catch {
    return `${shown} is not a URL: write "https://host/path"`;
  }
  return undefined;
}
