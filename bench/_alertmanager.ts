/**
 * Prometheus Alertmanager as the reference of the ingest benchmark (Debian `prometheus-alertmanager`):
 * started by the bench on a free loopback port with gossip off, a throwaway storage folder, and by
 * default one receiver that sends nothing, so what is measured is its in-memory ingest of `POST
 * /api/v2/alerts`; the storm bench passes its own config (an email receiver, `group_by`).
 *
 * @module
 */
import { installed } from "./_report.ts";

/** Where the Debian package installs the binary. */
export const ALERTMANAGER = "/usr/bin/prometheus-alertmanager";

/** A running Alertmanager; `stop()` in `finally`. */
export interface Alertmanager {
  url: string;
  version: string;
  /** Its process, for its CPU (`/proc`). */
  pid: number;
  stop(): Promise<void>;
}

/** True when Alertmanager is installed. */
export function hasAlertmanager(): Promise<boolean> {
  return installed(ALERTMANAGER);
}

/** A free loopback TCP port (bound, read, released). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Options of {@link startAlertmanager}. */
export interface AlertmanagerOptions {
  /** The `alertmanager.yml` text. @default one route to a receiver "null" that sends nothing */
  config?: string;
}

/** Starts Alertmanager and waits until `/-/ready` answers 200 (30 s at most). */
export async function startAlertmanager(
  options: AlertmanagerOptions = {},
): Promise<Alertmanager> {
  const dir = await Deno.makeTempDir({ prefix: "blitz_bench_am_" });
  await Deno.writeTextFile(
    `${dir}/alertmanager.yml`,
    options.config ??
      `route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n`,
  );
  const version = new TextDecoder().decode(
    (await new Deno.Command(ALERTMANAGER, {
      args: ["--version"],
      stdout: "piped",
      stderr: "piped",
    }).output()).stdout,
  ).split("\n")[0]!.replace(/^alertmanager, /, "");
  const port = freePort();
  const child = new Deno.Command(ALERTMANAGER, {
    args: [
      `--config.file=${dir}/alertmanager.yml`,
      `--storage.path=${dir}/data`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--cluster.listen-address=",
      "--log.level=error",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // exited
    }
    await child.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const deadline = Date.now() + 30_000;
  while (true) {
    try {
      const res = await fetch(`${url}/-/ready`);
      await res.body?.cancel();
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error("Alertmanager did not become ready within 30 s");
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url, version, pid: child.pid, stop };
}

/**
 * The bench's alert in Alertmanager's shape: every field a label (strings), the long text an
 * annotation; `n` tells the alerts of a batch apart (they would be one alert otherwise).
 */
export function alertmanagerAlert(
  alert: Record<string, unknown>,
  n?: number,
): Record<string, unknown> {
  const labels: Record<string, string> = { alertname: "bench" };
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(alert)) {
    if (typeof v === "string" && v.length > 40) annotations[k] = v;
    else labels[k] = String(v);
  }
  if (n !== undefined) labels.n = String(n);
  return { labels, annotations };
}
