/**
 * Errors that carry what a user needs: what went wrong and how to fix it.
 * The library speaks of its own options: a solution names one as
 * `{optionName}` (the name of the library option, e.g. `{output}`,
 * `{compressionLevel}`), which {@linkcode AptOstreeError.solution} renders
 * as the option's name and the CLI renders as the flag of the command that
 * ran (`--output`, `--compression-level`). Exit codes are the CLI's
 * business: it maps {@linkcode UsageError} to 2, an
 * {@linkcode InterruptedError} to 130/143, the rest to 1.
 *
 * @module
 */

/** Options for {@linkcode AptOstreeError}. */
export interface AptOstreeErrorOptions {
  /** One line telling the user how to fix the problem; `{option}` names a library option. */
  solution?: string;
  /** The underlying error, kept for `--verbose` output. */
  cause?: unknown;
}

const OPTION_RE = /\{([a-z][A-Za-z]*)\}/g;

/**
 * Renders a solution template, naming each `{option}` with `name(option)`.
 *
 * @example
 * ```ts
 * import { renderSolution } from "./errors.ts";
 * renderSolution("Choose another {output}", (o) => `--${o}`); // "Choose another --output"
 * ```
 */
export function renderSolution(template: string, name: (option: string) => string): string {
  return template.replace(OPTION_RE, (_, option: string) => name(option));
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
  /** The solution as written, with `{option}` placeholders. */
  readonly solutionTemplate: string | undefined;

  constructor(message: string, options: AptOstreeErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = "AptOstreeError";
    this.solutionTemplate = options.solution;
  }

  /** How to fix it (options named as the library names them), or undefined when there is nothing to add. */
  get solution(): string | undefined {
    return this.solutionTemplate === undefined ? undefined : renderSolution(this.solutionTemplate, (o) => `\`${o}\``);
  }
}

/**
 * A mistake in the command line or in the arguments of a library call (the
 * CLI exits with 2).
 *
 * @example
 * ```ts
 * import { UsageError } from "./errors.ts";
 * throw new UsageError("Unknown format: zip", {
 *   solution: "Use {format} oci, oci-archive or docker",
 * });
 * ```
 */
export class UsageError extends AptOstreeError {
  constructor(message: string, options: AptOstreeErrorOptions = {}) {
    super(message, options);
    this.name = "UsageError";
  }
}

/**
 * Raised when the user interrupted the operation (SIGINT or SIGTERM; the
 * CLI exits with 130 or 143, as shells report them).
 *
 * @example
 * ```ts
 * import { InterruptedError } from "./errors.ts";
 * throw new InterruptedError("SIGINT");
 * ```
 */
export class InterruptedError extends AptOstreeError {
  constructor(readonly signal: "SIGINT" | "SIGTERM") {
    super(`Interrupted by ${signal}; nothing was written`);
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
