/**
 * Ctrl-C and SIGTERM: the first signal aborts the running operation, which
 * then removes what it wrote and exits 130/143; a second one exits at
 * once. The CLI installs the handlers first thing ({@linkcode
 * installInterruptHandlers}), before anything is written, so that a signal
 * at any moment is handled: one that arrives before an operation starts
 * makes it stop before it writes anything.
 *
 * @module
 */

import { InterruptedError } from "../errors.ts";

let shared: { controller: AbortController; handlers: [Deno.Signal, () => void][] } | undefined;

/**
 * Installs the process's SIGINT and SIGTERM handlers (once); returns the
 * signal they abort.
 *
 * @example
 * ```ts
 * import { installInterruptHandlers } from "./signals.ts";
 * const signal = installInterruptHandlers();
 * signal.aborted; // false until Ctrl-C
 * ```
 */
export function installInterruptHandlers(): AbortSignal {
  if (shared) return shared.controller.signal;
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
  shared = { controller, handlers };
  return controller.signal;
}

/**
 * Removes the handlers (the CLI does when its command is done).
 *
 * @example
 * ```ts
 * import { installInterruptHandlers, removeInterruptHandlers } from "./signals.ts";
 * installInterruptHandlers();
 * removeInterruptHandlers();
 * ```
 */
export function removeInterruptHandlers(): void {
  for (const [name, handler] of shared?.handlers ?? []) Deno.removeSignalListener(name, handler);
  shared = undefined;
}

/**
 * Runs `fn` with the `AbortSignal` that fires on SIGINT or SIGTERM (the
 * handlers are installed if they are not yet).
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
  const signal = installInterruptHandlers();
  signal.throwIfAborted();
  try {
    return await fn(signal);
  } catch (error) {
    throw signal.aborted ? signal.reason : error;
  }
}
