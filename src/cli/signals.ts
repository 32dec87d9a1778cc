/**
 * Ctrl-C and SIGTERM: the first signal aborts the running operation, which
 * then removes what it wrote; a second one exits at once.
 *
 * @module
 */

import { InterruptedError } from "../errors.ts";

/**
 * Runs `fn` with an `AbortSignal` that fires on SIGINT or SIGTERM.
 *
 * @example
 * ```ts
 * import { withInterruptSignal } from "./signals.ts";
 * await withInterruptSignal(async (signal) => {
 *   signal.throwIfAborted();
 * });
 * ```
 */
export async function withInterruptSignal<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const handlers: [Deno.Signal, () => void][] = [];
  for (const name of ["SIGINT", "SIGTERM"] as const) {
    const handler = () => {
      if (controller.signal.aborted) {
        console.error(`\nInterrupted again by ${name}: exiting without cleaning up`);
        Deno.exit(name === "SIGINT" ? 130 : 143);
      }
      controller.abort(new InterruptedError(name));
    };
    Deno.addSignalListener(name, handler);
    handlers.push([name, handler]);
  }
  try {
    return await fn(controller.signal);
  } finally {
    for (const [name, handler] of handlers) Deno.removeSignalListener(name, handler);
  }
}
