/**
 * Debian version comparison, exactly as dpkg does it (`dpkg
 * --compare-versions`, lib/dpkg/version.c): epoch numerically, then
 * upstream version and revision by `verrevcmp` (`~` sorts before
 * everything, even the end; letters before other characters; digit runs
 * numerically).
 *
 * @module
 */

/** A parsed version: epoch, upstream version, revision. */
export interface DebianVersion {
  /** Epoch (0 when absent). */
  epoch: number;
  /** Upstream version. */
  upstream: string;
  /** Debian revision (`""` when absent). */
  revision: string;
}

/**
 * Splits a version into epoch, upstream version and revision.
 *
 * @example
 * ```ts
 * import { parseDebianVersion } from "./dpkg_version.ts";
 * parseDebianVersion("1:4.13+dfsg1-1+b1"); // { epoch: 1, upstream: "4.13+dfsg1", revision: "1+b1" }
 * ```
 */
export function parseDebianVersion(version: string): DebianVersion {
  let rest = version.trim();
  let epoch = 0;
  const colon = rest.indexOf(":");
  if (colon >= 0) {
    epoch = Number.parseInt(rest.slice(0, colon), 10) || 0;
    rest = rest.slice(colon + 1);
  }
  const dash = rest.lastIndexOf("-");
  return dash >= 0
    ? { epoch, upstream: rest.slice(0, dash), revision: rest.slice(dash + 1) }
    : { epoch, upstream: rest, revision: "" };
}

const isDigit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";
const isAlpha = (c: string) => (c >= "a" && c <= "z") || (c >= "A" && c <= "Z");

/** dpkg's `order`: `~` lowest, then end of string/digit, then letters, then other characters. */
function order(c: string | undefined): number {
  if (c === undefined || isDigit(c)) return 0;
  if (isAlpha(c)) return c.charCodeAt(0);
  if (c === "~") return -1;
  return c.charCodeAt(0) + 256;
}

function verrevcmp(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !isDigit(a[i])) || (j < b.length && !isDigit(b[j]))) {
      const ac = order(a[i]);
      const bc = order(b[j]);
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a[i] === "0") i++;
    while (b[j] === "0") j++;
    while (isDigit(a[i]) && isDigit(b[j])) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (isDigit(a[i])) return 1;
    if (isDigit(b[j])) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
}

/**
 * Compares two Debian versions as dpkg does: negative, zero or positive.
 *
 * @example
 * ```ts
 * import { compareDebianVersions } from "./dpkg_version.ts";
 * compareDebianVersions("1.0~rc1", "1.0") < 0; // true
 * compareDebianVersions("1:0.9", "2.0") > 0; // true
 * ```
 */
export function compareDebianVersions(a: string, b: string): number {
  const x = parseDebianVersion(a);
  const y = parseDebianVersion(b);
  if (x.epoch !== y.epoch) return x.epoch > y.epoch ? 1 : -1;
  const upstream = verrevcmp(x.upstream, y.upstream);
  if (upstream !== 0) return Math.sign(upstream);
  return Math.sign(verrevcmp(x.revision, y.revision));
}
