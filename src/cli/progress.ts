/**
 * The one reporter of the CLI: it decides once, from the global options and
 * the terminal, what may be shown on stderr while a command works:
 *
 * - a progress line, rewritten in place: only on a terminal, never with
 *   `--json` or `--quiet`;
 * - steps and the output of programs (mmdebstrap, apt): on a terminal, or
 *   always with `--verbose`; never with `--json` or `--quiet`.
 *
 * stdout carries only the result.
 *
 * @module
 */

import type { Progress } from "../util/progress.ts";
import type { GlobalOptions } from "./context.ts";

/**
 * Formats a byte count with binary units.
 *
 * @example
 * ```ts
 * import { formatBytes } from "./progress.ts";
 * formatBytes(1536); // "1.5 KiB"
 * ```
 */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** What the phases of the library's operations are called on screen. */
const PHASE_WORDS: Record<string, string> = {
  listing: "Reading the commit's tree",
  layers: "Writing layers",
  finishing: "Finishing",
  blobs: "Copying",
  manifests: "Writing manifests",
  committing: "Committing",
  hashing: "Hashing blobs",
};

/** Phases that have no byte count worth showing. */
const WORDS_ONLY = new Set(["listing", "manifests", "committing", "finishing"]);

/**
 * The progress line for a {@linkcode Progress}; `words` renames phases
 * (e.g. `blobs` → `Pushing`).
 *
 * @example
 * ```ts
 * import { progressText } from "./progress.ts";
 * progressText({ phase: "blobs", done: 1024, total: 2048, count: { done: 1, total: 2, of: "blobs" }, elapsedMs: 1000 });
 * // "Copying: 50% 1.0 KiB/2.0 KiB, 1/2 blobs, 0.0 MB/s"
 * ```
 */
export function progressText(p: Progress, words: Record<string, string> = {}): string {
  const phase = words[p.phase] ?? PHASE_WORDS[p.phase] ?? p.phase;
  if (WORDS_ONLY.has(p.phase)) return `${phase}…`;
  const rate = p.done / Math.max(p.elapsedMs / 1000, 0.001) / 1e6;
  const pct = p.total > 0 ? `${Math.floor((100 * p.done) / p.total)}% ` : "";
  const count = p.count
    ? `, ${p.count.done.toLocaleString("en-US")}/${p.count.total.toLocaleString("en-US")} ${p.count.of}`
    : "";
  return `${phase}: ${pct}${formatBytes(p.done)}/${formatBytes(p.total)}${count}, ${rate.toFixed(1)} MB/s`;
}

/** What a command shows while it works. */
export interface Reporter {
  /** Whether a progress line is shown (a terminal, no `--json` or `--quiet`). */
  readonly live: boolean;
  /** Whether steps and program output are shown (as `live`, or `--verbose` without `--json`/`--quiet`). */
  readonly logs: boolean;
  /** The progress callback to give the library, or undefined when no progress is shown. */
  readonly onProgress: ((progress: Progress) => void) | undefined;
  /** Prints a step line (`==> …`). */
  step(text: string): void;
  /** The callback for a program's output lines, or undefined when they are not shown. */
  readonly onLine: ((line: string) => void) | undefined;
  /** Clears the progress line. */
  done(): void;
}

/**
 * Creates the reporter for a command run.
 *
 * @example
 * ```ts
 * import { createReporter } from "./progress.ts";
 * const reporter = createReporter({ quiet: true });
 * reporter.step("Installing"); // prints nothing with --quiet
 * reporter.done();
 * ```
 */
export function createReporter(
  globals: GlobalOptions,
  options: { words?: Record<string, string>; terminal?: boolean } = {},
): Reporter {
  const terminal = options.terminal ?? Deno.stderr.isTerminal();
  const silent = globals.json === true || globals.quiet === true;
  const live = !silent && terminal;
  const logs = !silent && (terminal || globals.verbose === true);
  const encoder = new TextEncoder();
  let shown = false;
  const write = (text: string) => Deno.stderr.writeSync(encoder.encode(text));
  const clear = () => {
    if (shown) write("\r\x1b[K");
    shown = false;
  };
  return {
    live,
    logs,
    onProgress: live
      ? (p) => {
        write(`\r\x1b[K${progressText(p, options.words)}`);
        shown = true;
      }
      : undefined,
    step(text) {
      if (!logs) return;
      clear();
      console.error(`==> ${text}`);
    },
    onLine: logs
      ? (line) => {
        if (line.length === 0) return;
        clear();
        console.error(`    ${line}`);
      }
      : undefined,
    done: clear,
  };
}
