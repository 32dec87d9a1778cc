/**
 * Errors that carry what a user needs: what went wrong, how to fix it, and
 * the exit code the CLI returns (2 for usage errors, 1 for everything else).
 *
 * @module
 */

/** Options for {@linkcode AptOstreeError}. */
export interface AptOstreeErrorOptions {
  /** One line telling the user how to fix the problem. */
  solution?: string;
  /** Process exit code the CLI uses for this error (default 1). */
  exitCode?: number;
  /** The underlying error, kept for `--verbose` output. */
  cause?: unknown;
}

/**
 * An error that the CLI prints as `Error: <message>` followed by
 * `Solution: <solution>`.
 *
 * @example
 * ```ts
 * import { AptOstreeError } from "./errors.ts";
 * throw new AptOstreeError("Failed to checkout commit: abc", {
 *   solution: "Verify the commit exists and is accessible",
 * });
 * ```
 */
export class AptOstreeError extends Error {
  /** How to fix it, or undefined when there is nothing to add. */
  readonly solution: string | undefined;
  /** Exit code for the CLI. */
  readonly exitCode: number;

  constructor(message: string, options: AptOstreeErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = "AptOstreeError";
    this.solution = options.solution;
    this.exitCode = options.exitCode ?? 1;
  }
}

/**
 * A mistake in the command line or in the arguments of a library call:
 * exit code 2.
 *
 * @example
 * ```ts
 * import { UsageError } from "./errors.ts";
 * throw new UsageError("Unknown format: zip", {
 *   solution: "Use --format oci, oci-archive or docker",
 * });
 * ```
 */
export class UsageError extends AptOstreeError {
  constructor(message: string, options: Omit<AptOstreeErrorOptions, "exitCode"> = {}) {
    super(message, { ...options, exitCode: 2 });
    this.name = "UsageError";
  }
}

/**
 * Raised when the user interrupted the operation (SIGINT or SIGTERM).
 * Exit code 130, as shells report for Ctrl-C.
 *
 * @example
 * ```ts
 * import { InterruptedError } from "./errors.ts";
 * throw new InterruptedError("SIGINT");
 * ```
 */
export class InterruptedError extends AptOstreeError {
  constructor(signal: string) {
    super(`Interrupted by ${signal}; nothing was written`, {
      exitCode: signal === "SIGTERM" ? 143 : 130,
    });
    this.name = "InterruptedError";
  }
}

/**
 * Returns a short, human description of any thrown value.
 *
 * @example
 * ```ts
 * import { describeError } from "./errors.ts";
 * describeError(new Error("boom")); // "boom"
 * ```
 */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
