/**
 * Parsing of option values given on the command line.
 *
 * @module
 */

import { parseSourceDateEpoch } from "../util/source_date_epoch.ts";
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
  const seconds = parseSourceDateEpoch(value);
  return seconds === undefined ? undefined : new Date(seconds * 1000);
}
