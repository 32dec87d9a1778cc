/**
 * Wall-clock durations of the phases of a command (listing, layers, apt,
 * commit, …), reported in `--json` results, by `deno task demo:debian` and
 * by the benchmark.
 *
 * @module
 */

/** Measures consecutive phases: starting one ends the previous one. */
export interface PhaseTimer {
  /** Ends the running phase (if any) and starts `name`. */
  start(name: string): void;
  /** Ends the running phase and returns every phase's seconds (`decimals` digits, default 1), in order. */
  finish(decimals?: number): Record<string, number>;
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
    finish(decimals = 1) {
      end();
      const scale = 10 ** decimals;
      return Object.fromEntries(Object.entries(seconds).map(([k, v]) => [k, Math.round(v * scale) / scale]));
    },
  };
}
