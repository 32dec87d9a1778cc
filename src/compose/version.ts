/**
 * The `version` strings of composed commits, numbered as rpm-ostree's
 * `automatic-version-prefix` does: the first commit with a prefix gets the
 * prefix, later ones `prefix.1`, `prefix.2`, …
 *
 * @module
 */

/**
 * The next version after `previous` for `prefix`.
 *
 * @example
 * ```ts
 * import { nextVersion } from "./version.ts";
 * nextVersion("12.20260112", undefined); // "12.20260112"
 * nextVersion("12.20260112", "12.20260112"); // "12.20260112.1"
 * nextVersion("12.20260112", "12.20260112.4"); // "12.20260112.5"
 * nextVersion("12.20260113", "12.20260112.4"); // "12.20260113"
 * ```
 */
export function nextVersion(prefix: string, previous: string | undefined): string {
  if (previous === undefined) return prefix;
  if (previous === prefix) return `${prefix}.1`;
  if (previous.startsWith(`${prefix}.`)) {
    const rest = previous.slice(prefix.length + 1);
    if (/^\d+$/.test(rest)) return `${prefix}.${Number(rest) + 1}`;
  }
  return prefix;
}

/**
 * The UTC date of a time in seconds as `YYYYMMDD`.
 *
 * @example
 * ```ts
 * import { dateStamp } from "./version.ts";
 * dateStamp(1714979289); // "20240506"
 * ```
 */
export function dateStamp(seconds: number): string {
  return new Date(seconds * 1000).toISOString().slice(0, 10).replaceAll("-", "");
}
