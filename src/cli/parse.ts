/**
 * Parsing of option values given on the command line.
 *
 * @module
 */

import { UsageError } from "../errors.ts";

export { parseCommand } from "../oci/image_config.ts";

/**
 * Parses a positive whole number option.
 *
 * @example
 * ```ts
 * import { parsePositiveInt } from "./parse.ts";
 * parsePositiveInt("4", "--workers"); // 4
 * ```
 */
export function parsePositiveInt(value: string, option: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new UsageError(`Invalid ${option} value '${value}'`, { solution: `${option} takes a whole number >= 1` });
  }
  return Number(value);
}

/**
 * Reads `SOURCE_DATE_EPOCH` as a date, or undefined when it is unset.
 *
 * @example
 * ```ts
 * import { sourceDateEpoch } from "./parse.ts";
 * sourceDateEpoch("1700000000")?.toISOString(); // "2023-11-14T22:13:20.000Z"
 * ```
 */
export function sourceDateEpoch(value: string | undefined): Date | undefined {
  if (value === undefined || value === "") return undefined;
  if (!/^\d+$/.test(value)) {
    throw new UsageError(`Invalid SOURCE_DATE_EPOCH '${value}'`, {
      solution: "Set SOURCE_DATE_EPOCH to whole seconds since 1970-01-01 UTC, or unset it",
    });
  }
  return new Date(Number(value) * 1000);
}
