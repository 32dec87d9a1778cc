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
