/**
 * Permission errors as config errors: Deno's "Requires write access to "/var/lib/blitz", run again with
 * the --allow-write flag" cannot be acted on from `deno task` (a task takes no Deno flags). This turns
 * it into what to change: the path, which flag the process lacks, and which layout grants it (the
 * project folder for the deno tasks, /etc/blitz and /var/lib/blitz for the installed launcher).
 *
 * @module
 */

const REQUIRES =
  /Requires (read|write|net|env|sys|run|ffi|import) access to "?([^",]+)"?/;

/** The access a permission error was about, when `err` (or one of its causes) is one. */
export function deniedAccess(
  err: unknown,
): { kind: string; target: string } | undefined {
  for (
    let e = err, depth = 0;
    e instanceof Error && depth < 5;
    e = e.cause, depth++
  ) {
    const notCapable = e instanceof Deno.errors.NotCapable ||
      e instanceof Deno.errors.PermissionDenied || e.name === "NotCapable";
    const match = REQUIRES.exec(e.message);
    if (notCapable && match) return { kind: match[1]!, target: match[2]! };
  }
  return undefined;
}

/** The installed layout's folders when this process runs the bundle of `deploy/install.sh`. */
function installedLayout(): { opt: string } | undefined {
  const main = Deno.mainModule;
  if (!main.startsWith("file://") || !main.endsWith("/opt/blitz/blitz.js")) {
    return undefined;
  }
  return {
    opt: decodeURIComponent(new URL(".", main).pathname).replace(/\/$/, ""),
  };
}

/**
 * What to do about a permission error, one line, or undefined when `err` is not one. Names the path,
 * the flag, and how the deno tasks or the installed launcher grant it.
 */
export function permissionHint(err: unknown): string | undefined {
  const denied = deniedAccess(err);
  return denied ? accessHint(denied.kind, denied.target) : undefined;
}

/** What to do when this process may not `kind` (read, write, net, env…) `target`. */
export function accessHint(kind: string, target: string): string {
  const installed = installedLayout();
  const root = installed?.opt.slice(0, -"/opt/blitz".length) ?? "";
  if (kind === "read" || kind === "write") {
    const verb = kind === "read" ? "read" : "write to";
    const flag = `--allow-${kind}`;
    if (installed) {
      return `Blitz may not ${verb} "${target}" (${flag}): the launcher and the service ${
        kind === "read"
          ? `read only ${root}/etc/blitz, ${root}/opt/blitz and ${root}/var/lib/blitz`
          : `write only ${root}/var/lib/blitz (data_dir: ${root}/var/lib/blitz)`
      }; move it there, or add the folder to ${flag} in both ${installed.opt}/blitz and blitz.service's ExecStart`;
    }
    return `Blitz may not ${verb} "${target}" (${flag}): the deno tasks ${
      kind === "read"
        ? "read only the project folder (--allow-read=.), so keep config, detectors and plugins inside it"
        : "write only ./data (--allow-write=./data), so use data_dir: data"
    }; for /etc/blitz and /var/lib/blitz install Blitz (deploy/install.sh: the launcher /opt/blitz/blitz; README "Installing on a SOC host"), or run deno run with ${flag}=<folder>`;
  }
  if (kind === "env") {
    return `Cannot read environment variable ${target}: add it to --allow-env`;
  }
  if (kind === "net") {
    return `Blitz may not connect to "${target}": add it to --allow-net`;
  }
  return `Blitz may not use ${kind} access to "${target}": the process does not grant --allow-${kind}`;
}
