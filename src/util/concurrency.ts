/**
 * Running async work with a bound on how much runs at once.
 *
 * @module
 */

/**
 * Maps `items` through `fn`, at most `limit` at a time; results keep the
 * order of `items`. The first failure rejects (work already started is left
 * to finish or fail on its own).
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
  const results = new Array<R>(items.length);
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, run));
  return results;
}
