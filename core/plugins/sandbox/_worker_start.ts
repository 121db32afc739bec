/**
 * Starting a sandbox worker: the Deno permissions a plugin's worker gets (exactly what it declares,
 * plus reading its own modules; see `sandbox.ts`), the worker itself, and errors as they come back
 * across the worker boundary.
 *
 * `sandbox_worker.ts` and the `core/` folder plugins may read are both resolved relative to this
 * module (`core/` is two folders up): in the single-file bundle, next to dist/blitz.js, where `deno task bundle` copies the worker.
 *
 * @module
 */
import { errorMessage, TimeoutError } from "../call.ts";
import type { Permissions } from "../../plugin.ts";
import type { WireError } from "./sandbox_worker.ts";

const WORKER_URL = new URL("./sandbox_worker.ts", import.meta.url);
// Plugins import `core/plugin.ts` and what it imports: the whole `core/` folder is readable. In the
// bundle this module is dist/blitz.js itself, and dist/ is that folder.
const HERE = new URL(".", import.meta.url);
/** The folder plugins may read to import `core/plugin.ts` (dist/ in the bundle). */
export const CORE_DIR = decodeURIComponent(
  (HERE.pathname.endsWith("/core/plugins/sandbox/")
    ? new URL("../../", HERE)
    : HERE)
    .pathname,
);

/** The permissions a plugin declares, `sys` included. */
export type Declared = Permissions & { sys?: boolean | string[] };

/** Deno worker permissions for a plugin: exactly what it declares, plus reading its own modules. */
export function workerPermissions(
  declared: Declared | undefined,
  moduleUrl: string,
): Deno.PermissionOptionsObject {
  const grant = (value: boolean | string[] | undefined) =>
    value === true
      ? true
      : Array.isArray(value) && value.length > 0
      ? [...value]
      : false;
  const read = declared?.read === true ? true : [
    ...(Array.isArray(declared?.read) ? declared.read : []),
    ...moduleDirs(moduleUrl),
  ];
  return {
    net: grant(declared?.net),
    env: grant(declared?.env),
    read: read === true || read.length > 0 ? read : false,
    sys: grant(declared?.sys),
    write: false,
    run: false,
    ffi: false,
    import: false,
  };
}

/** The variables a worker's `process.env` holds: all (`null`) when it may read every one, else those declared. */
export function workerEnv(declared: Declared | undefined): string[] | null {
  return declared?.env === true
    ? null
    : Array.isArray(declared?.env)
    ? [...declared.env]
    : [];
}

function moduleDirs(moduleUrl: string): string[] {
  const url = new URL(moduleUrl);
  if (url.protocol !== "file:") return [];
  return [decodeURIComponent(new URL(".", url).pathname), CORE_DIR];
}

/** Turns an error that crossed the worker boundary back into an Error (TimeoutError by name). */
export function toError(wire: WireError): Error {
  const error = wire.name === "TimeoutError"
    ? new TimeoutError(wire.message)
    : new Error(wire.message);
  error.name = wire.name;
  return error;
}

/** Starts a sandbox worker with these permissions; a failure names the plugin. */
export function startWorker(
  name: string,
  permissions: Deno.PermissionOptionsObject,
): Worker {
  try {
    return new Worker(WORKER_URL, {
      type: "module",
      name: `blitz-sandbox:${name}`,
      deno: { permissions },
    });
  } catch (err) {
    throw new Error(
      `Cannot start the sandbox of "${name}": ${errorMessage(err)}`,
    );
  }
}
