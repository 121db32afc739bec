/**
 * Lazy imports without literal specifiers. Deno reads every module reachable through a literal
 * `import("…")` when a program starts, so literals would make each `ingest` walk the whole graph
 * (nodemailer, mysql2, jira.js, the Elasticsearch client) even though it uses none of them. Modules
 * are named by their path from the project root; the single-file bundle (`bundle.ts`) imports them
 * statically and registers them with `preload()`.
 *
 * @module
 */

const preloaded = new Map<string, unknown>();
const root = new URL("../", import.meta.url);

/** Registers modules imported statically (the bundle), keyed like `importLazy` paths. */
export function preload(modules: Record<string, unknown>): void {
  for (const [path, mod] of Object.entries(modules)) preloaded.set(path, mod);
}

/** The URL of a project module named by its path from the project root (`"enrichments/whois.ts"`). */
export function projectUrl(path: string): string {
  return new URL(path, root).href;
}

/** Imports a project module (`"cli/ingest.ts"`) or a package (`"npm:nodemailer"` → `nodemailer`). */
export function importLazy<T>(path: string): Promise<T> {
  if (preloaded.has(path)) return Promise.resolve(preloaded.get(path) as T);
  const specifier = path.startsWith("npm:") ? path.slice(4) : projectUrl(path);
  return import(specifier) as Promise<T>;
}
