/**
 * Running async work with a bound on how much runs at once: one limiter,
 * and {@linkcode mapLimit} built on it.
 *
 * @module
 */

/** Runs a task when a slot is free; resolves or rejects with the task. */
export type Limiter = <T>(task: () => Promise<T>) => Promise<T>;

/**
 * A limiter: at most `limit` tasks given to it run at once; the others
 * start, in the order given, as slots free up.
 *
 * @example
 * ```ts
 * import { createLimiter } from "./concurrency.ts";
 * const limit = createLimiter(2);
 * const results = await Promise.all([1, 2, 3].map((n) => limit(async () => n * 2))); // [2, 4, 6]
 * ```
 */
export function createLimiter(limit: number): Limiter {
  const slots = Math.max(1, Math.floor(limit));
  let running = 0;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (running >= slots) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await task();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}

/**
 * Maps `items` through `fn`, at most `limit` at a time; results keep the
 * order of `items`. The first failure rejects; tasks not yet started do
 * not start (work already started is left to finish or fail on its own).
 *
 * @example
 * ```ts
 * import { mapLimit } from "./concurrency.ts";
 * const doubled = await mapLimit([1, 2, 3], 2, async (n) => n * 2); // [2, 4, 6]
 * ```
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const run = createLimiter(limit);
  let failed = false;
  const tasks = items.map((item, i) =>
    run(() => {
      if (failed) return Promise.reject(new Error("not started: an earlier task failed"));
      return fn(item, i).catch((error) => {
        failed = true;
        throw error;
      });
    })
  );
  // The first failure is the one reported; the others are settled quietly.
  for (const task of tasks) task.catch(() => {});
  return await Promise.all(tasks);
}
