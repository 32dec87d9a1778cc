/**
 * Turns a commit's tree into the root file system an image shows: a
 * deployment's `/usr/etc` becomes `/etc`, `security.selinux` labels are
 * dropped (the host relabels), and entries are sorted so that every build
 * writes them in the same order.
 *
 * @module
 */

import { AptOstreeError } from "../errors.ts";
import type { TreeEntry } from "../ostree/tree.ts";

/** Extended attributes that never go into a layer. */
export const EXCLUDED_XATTRS: ReadonlySet<string> = new Set(["security.selinux"]);

/**
 * Compares paths component by component ("a/b" sorts before "a.b"), so
 * that a directory's entries follow it directly.
 *
 * @example
 * ```ts
 * import { comparePaths } from "./rootfs.ts";
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

/**
 * Maps a commit's entries to the image's root file system (in place) and
 * returns them sorted.
 *
 * @example
 * ```ts
 * import { toImageRootfs } from "./rootfs.ts";
 * const entry = (path: string) => ({ path, sourcePath: path, kind: "directory" as const, mode: 0o755, uid: 0, gid: 0, size: 0, checksum: "", xattrs: [] });
 * toImageRootfs([entry("usr"), entry("usr/etc")]).map((e) => e.path); // ["etc", "usr"]
 * ```
 */
export function toImageRootfs(entries: TreeEntry[]): TreeEntry[] {
  const etc = entries.find((e) => e.sourcePath === "etc");
  const usrEtc = entries.find((e) => e.sourcePath === "usr/etc");
  if (etc && usrEtc) {
    throw new AptOstreeError("The commit has both /etc and /usr/etc", {
      solution:
        "A deployment keeps its configuration in /usr/etc only: merge /etc into /usr/etc (or drop one of them) and commit again",
    });
  }
  for (const entry of entries) {
    if (usrEtc && (entry.sourcePath === "usr/etc" || entry.sourcePath.startsWith("usr/etc/"))) {
      entry.path = entry.sourcePath.slice("usr/".length);
    }
    if (entry.xattrs.some((x) => EXCLUDED_XATTRS.has(x.name))) {
      entry.xattrs = entry.xattrs.filter((x) => !EXCLUDED_XATTRS.has(x.name));
    }
  }
  return entries.sort((a, b) => comparePaths(a.path, b.path));
}
