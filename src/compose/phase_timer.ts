/**
 * Wall-clock durations of the phases of a compose (mmdebstrap, apt, commit,
 * …), reported in `--json` results and by `deno task demo:debian`.
 *
 * @module
 */

/** Measures consecutive phases: starting one ends the previous one. */
export interface PhaseTimer {
  /** Ends the running phase (if any) and starts `name`. */
  start(name: string): void;
  /** Ends the running phase and returns every phase's seconds (one decimal), in order. */
  finish(): Record<string, number>;
}

/**
 * Creates a phase timer.
 *
 * @example
 * ```ts
 * import { phaseTimer } from "./phase_timer.ts";
 * const timer = phaseTimer();
 * timer.start("checkout");
 * timer.start("commit");
 * timer.finish(); // { checkout: 0, commit: 0 }
 * ```
 */
export function phaseTimer(now: () => number = () => performance.now()): PhaseTimer {
  const seconds: Record<string, number> = {};
  let current: string | undefined;
  let started = 0;
  const end = () => {
    if (current !== undefined) seconds[current] = (seconds[current] ?? 0) + (now() - started) / 1000;
    current = undefined;
  };
  return {
    start(name) {
      end();
      current = name;
      started = now();
    },
    finish() {
      end();
      return Object.fromEntries(Object.entries(seconds).map(([k, v]) => [k, Math.round(v * 10) / 10]));
    },
  };
}
