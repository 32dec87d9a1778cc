/**
 * Progress of a long operation, one type for all of them (build, copy,
 * pull, verify): the phase, bytes done of all, and a count of the things
 * being worked through (files, blobs, layers). {@linkcode progressTicker}
 * reports it a few times a second; how it is shown is the CLI's business.
 *
 * @module
 */

/** Progress, reported a few times a second. */
export interface Progress {
  /** What is happening (an operation's own word: `listing`, `layers`, `blobs`, `manifests`, `committing`, …). */
  phase: string;
  /** Bytes done. */
  done: number;
  /** Bytes in all (0 when not known yet). */
  total: number;
  /** Things worked through: files, blobs or layers. */
  count?: { done: number; total: number; of: "files" | "blobs" | "layers" };
  /** Milliseconds since the operation started. */
  elapsedMs: number;
}

/** Reports progress on a timer (and once more on demand). */
export interface ProgressTicker {
  /** Reports now. */
  tick(): void;
  /** Stops the timer. */
  stop(): void;
}

/**
 * Calls `onProgress` with `read()` every `intervalMs` (nothing at all when
 * there is no `onProgress`).
 *
 * @example
 * ```ts
 * import { progressTicker } from "./progress.ts";
 * const started = performance.now();
 * const ticker = progressTicker(
 *   () => ({ phase: "blobs", done: 0, total: 10, elapsedMs: performance.now() - started }),
 *   (p) => console.log(p.phase, p.done),
 * );
 * ticker.stop();
 * ```
 */
export function progressTicker(
  read: () => Progress,
  onProgress: ((progress: Progress) => void) | undefined,
  intervalMs = 200,
): ProgressTicker {
  if (!onProgress) return { tick() {}, stop() {} };
  const tick = () => onProgress(read());
  const timer = setInterval(tick, intervalMs);
  return { tick, stop: () => clearInterval(timer) };
}
