/**
 * Option values of the compose commands.
 *
 * @module
 */

/**
 * Collects a repeatable option's values, splitting commas (`--packages a,b`).
 *
 * @example
 * ```ts
 * import { splitList } from "./compose_output.ts";
 * splitList(["a,b", "c"]); // ["a", "b", "c"]
 * ```
 */
export function splitList(values: readonly string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v.length > 0);
}
