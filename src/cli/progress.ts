/**
 * Progress on a terminal: one line on stderr, rewritten in place; nothing at
 * all when stderr is not a terminal or `--quiet` is given.
 *
 * @module
 */

import type { BuildProgress } from "../build/build_image.ts";

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

/** A progress line writer. */
export interface ProgressLine {
  /** Build progress callback, or undefined when progress is off. */
  onProgress: ((p: BuildProgress) => void) | undefined;
  /** Clears the line. */
  done(): void;
}

/**
 * Creates a progress writer; disabled unless `enabled` and stderr is a
 * terminal.
 *
 * @example
 * ```ts
 * import { createProgressLine } from "./progress.ts";
 * const progress = createProgressLine(true);
 * progress.onProgress?.({ phase: "layers", entries: 1, totalEntries: 2, contentBytes: 10, totalBytes: 20, elapsedMs: 100 });
 * progress.done();
 * ```
 */
export function createProgressLine(enabled: boolean): ProgressLine {
  if (!enabled || !Deno.stderr.isTerminal()) return { onProgress: undefined, done() {} };
  const encoder = new TextEncoder();
  let shown = false;
  const write = (text: string) => Deno.stderr.writeSync(encoder.encode(text));
  return {
    onProgress(p) {
      const seconds = Math.max(p.elapsedMs / 1000, 0.001);
      const rate = p.contentBytes / seconds / 1e6;
      const pct = p.totalBytes > 0 ? Math.floor((100 * p.contentBytes) / p.totalBytes) : 100;
      const line = p.phase === "listing"
        ? "Reading the commit's tree…"
        : `${p.phase === "finishing" ? "Finishing" : "Writing layer"}: ${pct}% ${formatBytes(p.contentBytes)}/${
          formatBytes(p.totalBytes)
        }, ${p.entries.toLocaleString("en-US")}/${p.totalEntries.toLocaleString("en-US")} files, ${
          rate.toFixed(1)
        } MB/s`;
      write(`\r\x1b[K${line}`);
      shown = true;
    },
    done() {
      if (shown) write("\r\x1b[K");
      shown = false;
    },
  };
}
