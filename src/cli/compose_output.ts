/**
 * What the compose commands show while they work: their steps and the
 * output of mmdebstrap and apt go to stderr on a terminal (or always with
 * `--verbose`), never with `--json` or `--quiet`; stdout carries only the
 * result.
 *
 * @module
 */

import type { GlobalOptions } from "./context.ts";

/** Callbacks for a compose run. */
export interface ComposeReporter {
  /** Whether live output is shown. */
  live: boolean;
  /** Prints a step line. */
  onStep: (step: string) => void;
  /** Prints a line of a program's output. */
  onLine: ((line: string) => void) | undefined;
}

/**
 * Creates the reporter for the global options.
 *
 * @example
 * ```ts
 * import { composeReporter } from "./compose_output.ts";
 * const reporter = composeReporter({ quiet: true });
 * reporter.onStep("Installing"); // prints nothing with --quiet
 * ```
 */
export function composeReporter(globals: GlobalOptions): ComposeReporter {
  const live = !globals.json && !globals.quiet && (globals.verbose === true || Deno.stderr.isTerminal());
  if (!live) return { live, onStep: () => {}, onLine: undefined };
  return {
    live,
    onStep: (step) => console.error(`==> ${step}`),
    onLine: (line) => {
      if (line.length > 0) console.error(`    ${line}`);
    },
  };
}

/**
 * Collects a repeatable option's values, splitting commas (`--packages a,b`).
 *
 * @example
 * ```ts
 * import { splitList } from "./compose_output.ts";
 * splitList(["a,b", "c"]); // ["a", "b", "c"]
 * ```
 */
export function splitList(values: readonly string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v.length > 0);
}
