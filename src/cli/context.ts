/**
 * What every command gets: the global options and the output conventions
 * (one JSON object on stdout with `--json`, human lines otherwise, progress
 * only on a terminal, errors on stderr).
 *
 * @module
 */

import { createReporter, type Reporter } from "./progress.ts";

/** Options accepted before or after any subcommand. */
export interface GlobalOptions {
  /** OSTree repository path. */
  repo?: string;
  /** Print one JSON object on stdout. */
  json?: boolean;
  /** No progress output. */
  quiet?: boolean;
  /** More detail on errors. */
  verbose?: boolean;
}

/** Output helpers bound to the global options. */
export interface CommandContext {
  /** The global options. */
  globals: GlobalOptions;
  /** The one reporter: progress line, steps and program output, as the options and the terminal allow. */
  reporter(options?: { words?: Record<string, string> }): Reporter;
  /** Prints the result: JSON with --json, else the human lines. */
  result(value: unknown, human: () => string[]): void;
}

/**
 * Creates the context for a command run.
 *
 * @example
 * ```ts
 * import { createContext } from "./context.ts";
 * const ctx = createContext({ json: true });
 * ctx.result({ ok: true }, () => ["ok"]); // prints {"ok":true}
 * ```
 */
export function createContext(globals: GlobalOptions): CommandContext {
  return {
    globals,
    reporter: (options) => createReporter(globals, options),
    result(value, human) {
      if (globals.json) console.log(JSON.stringify(value, null, 2));
      else for (const line of human()) console.log(line);
    },
  };
}
