/**
 * `SOURCE_DATE_EPOCH` (reproducible-builds.org): whole seconds since
 * 1970-01-01 UTC, read the same way by every command that stamps a time
 * (commits, image configs, signatures, SBOMs).
 *
 * @module
 */

import { UsageError } from "../errors.ts";

/**
 * The seconds `value` (the variable's text) names, or undefined when it is
 * unset or empty; a usage error for anything else than whole seconds.
 *
 * @example
 * ```ts
 * import { parseSourceDateEpoch } from "./source_date_epoch.ts";
 * parseSourceDateEpoch("1700000000"); // 1700000000
 * parseSourceDateEpoch(Deno.env.get("SOURCE_DATE_EPOCH")) ?? Math.floor(Date.now() / 1000);
 * ```
 */
export function parseSourceDateEpoch(value: string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  if (!/^\d+$/.test(value)) {
    throw new UsageError(`Invalid SOURCE_DATE_EPOCH '${value}'`, {
      solution: "Set SOURCE_DATE_EPOCH to whole seconds since 1970-01-01 UTC, or unset it",
    });
  }
  return Number(value);
}
