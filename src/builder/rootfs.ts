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
import { comparePaths } from "../util/path_order.ts";

export { comparePaths };

/** Extended attributes that never go into a layer. */
export const EXCLUDED_XATTRS: ReadonlySet<string> = new Set(["security.selinux"]);

/**
 * Maps a commit's entries to the image's root file system (in place) and
 * returns them sorted (the same array, or a new one when `/usr/etc` moved).
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
  return sortByPath(entries, usrEtc !== undefined);
}

/**
 * Sorts entries by image path. A commit's walk is already in that order
 * but for a moved `/usr/etc` block: that block is moved where `etc` sorts
 * (one pass, no comparison sort of a million entries and the memory it
 * takes); anything else out of order gets the full sort.
 */
function sortByPath(entries: TreeEntry[], movedEtc: boolean): TreeEntry[] {
  let sorted = entries;
  if (movedEtc) {
    const start = entries.findIndex((e) => e.sourcePath === "usr/etc");
    let end = start + 1;
    while (end < entries.length && entries[end].sourcePath.startsWith("usr/etc/")) end++;
    const rest = [...entries.slice(0, start), ...entries.slice(end)];
    let at = 0;
    while (at < rest.length && comparePaths(rest[at].path, "etc") < 0) at++;
    sorted = rest.slice(0, at);
    for (let i = start; i < end; i++) sorted.push(entries[i]);
    for (let i = at; i < rest.length; i++) sorted.push(rest[i]);
  }
  for (let i = 1; i < sorted.length; i++) {
    if (comparePaths(sorted[i - 1].path, sorted[i].path) >= 0) {
      return sorted.sort((a, b) => comparePaths(a.path, b.path));
    }
  }
  return sorted;
}
