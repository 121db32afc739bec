/** Calling plugin code under a deadline, and turning what it throws into a message for people. */
import { formatDuration } from "../duration.ts";
import type { PluginContext } from "../plugin.ts";
import { redact } from "../secrets.ts";

export { errorMessage } from "../errors.ts";

/** Raised when a call passes its deadline. */
export class TimeoutError extends Error {
  override name = "TimeoutError";
}

/** A plugin: something with a name and a run function. */
export interface Callable {
  name: string;
  run(params: never, ctx: PluginContext): unknown;
}

/**
 * Runs `plugin.run(params, ctx)` in this process under a deadline: on overrun the signal aborts and the
 * call rejects with TimeoutError (code that ignores its signal is abandoned; the sandbox can kill it).
 */
export async function callWithDeadline(
  plugin: Callable,
  params: unknown,
  ctx: Omit<PluginContext, "signal" | "log">,
  timeoutMs: number,
): Promise<unknown> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new TimeoutError(
        `timed out after ${formatDuration(timeoutMs)}`,
      );
      controller.abort(err);
      reject(err);
    }, timeoutMs);
  });
  const log = (m: string) => console.error(redact(`[${plugin.name}] ${m}`));
  try {
    return await Promise.race([
      Promise.resolve().then(() =>
        plugin.run(params as never, { ...ctx, signal: controller.signal, log })
      ),
      deadline,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
