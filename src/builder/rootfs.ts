/**
 * Turns a commit's tree into the root file system an image shows: a
 * deployment's `/usr/etc` becomes `/etc`, `security.selinux` labels are
 * dropped (the host relabels), and entries are sorted so that every build
 * writes them in the same order.
 *
 * @module
 */

import { AptOstreeError } from "../errors.ts";
import type { TreeEntries } from "../ostree/tree.ts";
import { comparePaths } from "../util/path_order.ts";

export { comparePaths };

/** Extended attributes that never go into a layer. */
export const EXCLUDED_XATTRS: ReadonlySet<string> = new Set(["security.selinux"]);

/**
 * Maps a commit's entries to the image's root file system (paths and
 * xattrs in place) and returns them sorted: the same entries, or a view in
 * another order when `/usr/etc` moved.
 *
 * @example
 * ```ts
 * import { toImageRootfs } from "./rootfs.ts";
 * import { TreeEntries } from "../ostree/tree.ts";
 * const entry = (path: string) => ({ path, sourcePath: path, kind: "directory" as const, mode: 0o755, uid: 0, gid: 0, size: 0, checksum: "", xattrs: [] });
 * toImageRootfs(TreeEntries.from([entry("usr"), entry("usr/etc")])).map((e) => e.path); // ["etc", "usr"]
 * ```
 */
export function toImageRootfs(entries: TreeEntries): TreeEntries {
  let etc = -1;
  let usrEtc = -1;
  for (let i = 0; i < entries.length; i++) {
    const path = entries.sourcePath(i);
    if (path === "etc") etc = i;
    else if (path === "usr/etc") usrEtc = i;
  }
  if (etc >= 0 && usrEtc >= 0) {
    throw new AptOstreeError("The commit has both /etc and /usr/etc", {
      solution:
        "A deployment keeps its configuration in /usr/etc only: merge /etc into /usr/etc (or drop one of them) and commit again",
    });
  }
  for (let i = 0; i < entries.length; i++) {
    if (usrEtc >= 0) {
      const path = entries.sourcePath(i);
      if (path === "usr/etc" || path.startsWith("usr/etc/")) entries.setPath(i, path.slice("usr/".length));
    }
    if (entries.xattrCount(i) === 0) continue;
    const xattrs = entries.at(i).xattrs;
    if (xattrs.some((x) => EXCLUDED_XATTRS.has(x.name))) {
      entries.setXattrs(i, xattrs.filter((x) => !EXCLUDED_XATTRS.has(x.name)));
    }
  }
  // The walk puts a directory's entries right after it: the block ends at the first path outside it.
  let end = usrEtc + 1;
  while (usrEtc >= 0 && end < entries.length && entries.sourcePath(end).startsWith("usr/etc/")) end++;
  return sortByPath(entries, usrEtc, end);
}

/**
 * Sorts entries by image path. A commit's walk is already in that order
 * but for a moved `/usr/etc` block (`start` to `end`): that block is moved
 * where `etc` sorts (one pass, no comparison sort of a million entries and
 * the memory it takes); anything else out of order gets the full sort.
 */
function sortByPath(entries: TreeEntries, start: number, end: number): TreeEntries {
  let sorted = entries;
  if (start >= 0) {
    const order: number[] = [];
    let at = 0;
    const rest = (i: number) => i < start ? i : i + (end - start);
    const restLength = entries.length - (end - start);
    while (at < restLength && comparePaths(entries.path(rest(at)), "etc") < 0) order.push(rest(at++));
    for (let i = start; i < end; i++) order.push(i);
    for (let i = at; i < restLength; i++) order.push(rest(i));
    sorted = entries.select(order);
  }
  return sorted.sortedByPath();
}
