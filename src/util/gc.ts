/**
 * A hint to collect garbage, where V8 allows it (`--expose-gc`, which the
 * CLI's flags set; without it this does nothing). The layer pipeline moves
 * ~1 MiB buffers between threads; V8 counts them as external memory and
 * collects them late, so memory would grow with the image. Calling this
 * every few blocks keeps it flat.
 *
 * @module
 */

const gc = (globalThis as { gc?: (options?: { type?: "minor" | "major" }) => void }).gc;

/**
 * Returns a function that runs a garbage collection every `every` calls.
 *
 * @example
 * ```ts
 * import { garbageCollector } from "./gc.ts";
 * const tick = garbageCollector(8);
 * for (let i = 0; i < 100; i++) tick(); // collects 12 times with --expose-gc
 * ```
 */
export function garbageCollector(every: number, type: "minor" | "major" = "major"): () => void {
  let calls = 0;
  return () => {
    if (gc && ++calls % every === 0) gc(type === "minor" ? { type: "minor" } : undefined);
  };
}
