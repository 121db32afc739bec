/** Minimal POSIX path helpers (no @std/path: JSR is unreachable here). */

/** True for absolute paths. */
export function isAbsolute(path: string): boolean {
  return path.startsWith("/");
}

/** Joins and normalises path segments. */
export function join(...parts: string[]): string {
  return normalize(parts.filter(Boolean).join("/"));
}

/** Resolves a path against the working directory. */
export function resolve(path: string): string {
  return normalize(isAbsolute(path) ? path : `${Deno.cwd()}/${path}`);
}

/** The folder part of a path. */
export function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

/** Collapses `.`, `..` and repeated slashes. */
export function normalize(path: string): string {
  const absolute = path.startsWith("/");
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (!part || part === ".") continue;
    if (part === "..") {
      if (out.length && out[out.length - 1] !== "..") out.pop();
      else if (!absolute) out.push("..");
    } else out.push(part);
  }
  return (absolute ? "/" : "") + out.join("/") || (absolute ? "/" : ".");
}

/** A file URL for an absolute path. */
export function toFileUrl(path: string): URL {
  return new URL(
    `file://${resolve(path).split("/").map(encodeURIComponent).join("/")}`,
  );
}
