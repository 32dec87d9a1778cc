/**
 * The order of paths in layers and listings.
 *
 * @module
 */

/**
 * Compares paths component by component ("a/b" sorts before "a.b"), so
 * that a directory's entries follow it directly.
 *
 * @example
 * ```ts
 * import { comparePaths } from "./path_order.ts";
 * ["a.b", "a/b", "a"].sort(comparePaths); // ["a", "a/b", "a.b"]
 * ```
 */
export function comparePaths(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    if (ca === 0x2f) return -1;
    if (cb === 0x2f) return 1;
    return ca - cb;
  }
  return a.length - b.length;
}
