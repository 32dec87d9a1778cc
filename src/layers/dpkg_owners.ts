/**
 * Which Debian package owns each path of a tree, from dpkg's file lists
 * (`<package>.list` in dpkg's info directory) read out of the commit.
 *
 * @module
 */

import { type ContentSource, readEntryBytes } from "../ostree/content.ts";
import type { TreeEntries, TreeEntry } from "../ostree/tree.ts";

/**
 * Where apt-ostree keeps dpkg's database in every commit it composes
 * (relative to the root): under `/usr`, so that it belongs to the
 * deployment (OSTree keeps one shared `/var` and ignores a commit's), as
 * Fedora keeps its rpmdb in `/usr/lib/sysimage/rpm`. `/var/lib/dpkg` is a
 * symlink to it (and a `tmpfiles.d` line recreates that symlink at boot).
 */
export const DPKG_DATABASE_DIR = "usr/lib/sysimage/dpkg";

/** Where dpkg itself looks for its database, and where commits made before the move keep it. */
export const LEGACY_DPKG_DATABASE_DIR = "var/lib/dpkg";

/** Where dpkg's database may be in a commit, in the order to look: apt-ostree's place first, then the classic one. */
export const DPKG_DATABASE_DIRS: readonly string[] = [DPKG_DATABASE_DIR, LEGACY_DPKG_DATABASE_DIR];

/** Where dpkg's info directory may be in a commit (where deployments move it first, then the classic place). */
export const DPKG_INFO_DIRS: readonly string[] = [
  `${DPKG_DATABASE_DIR}/info`,
  `${LEGACY_DPKG_DATABASE_DIR}/info`,
  "usr/lib/dpkg/info",
  "usr/share/dpkg/database/info",
];

/**
 * Top-level directory aliases of a merged-/usr tree (`bin` → `usr/bin`):
 * dpkg lists `/bin/bash` for what the tree holds at `usr/bin/bash`.
 */
function topLevelAliases(entries: TreeEntries): Map<string, string> {
  const aliases = new Map<string, string>();
  for (let i = 0; i < entries.length; i++) {
    if (entries.kind(i) !== "symlink" || entries.path(i).includes("/")) continue;
    const e = entries.at(i);
    if (!e.target) continue;
    const target = e.target.replace(/^\/+/, "").replace(/\/+$/, "");
    if (target.length > 0 && !target.startsWith("..")) aliases.set(e.path, target);
  }
  return aliases;
}

/**
 * Maps paths (relative, as in the image) to the one package that owns them,
 * or returns undefined when the tree has no dpkg database. Paths listed by
 * several packages (shared directories such as `usr/share/doc`, diverted
 * files) belong to no single package and are left out.
 *
 * @example
 * ```ts
 * import { readDpkgOwners } from "./dpkg_owners.ts";
 * import { contentSourceFor } from "../ostree/content.ts";
 * import { OstreeRepo } from "../ostree/repo.ts";
 * const repo = await OstreeRepo.open("repo");
 * const entries = await repo.readTree(await repo.resolveCommit("debian/12/x86_64"));
 * const owners = await readDpkgOwners(entries, contentSourceFor(repo));
 * owners?.get("usr/bin/dpkg"); // "dpkg"
 * ```
 */
export async function readDpkgOwners(
  entries: TreeEntries,
  content: ContentSource,
): Promise<Map<string, string> | undefined> {
  // One pass over the tree: the `.list` files of each info directory (a million-entry tree is walked once, not four
  // times); the first directory in order that has any is dpkg's.
  const byDir = new Map<string, TreeEntry[]>(DPKG_INFO_DIRS.map((dir) => [dir, []]));
  for (let i = 0; i < entries.length; i++) {
    const path = entries.path(i);
    if (!path.endsWith(".list") || entries.kind(i) !== "file") continue;
    byDir.get(path.slice(0, path.lastIndexOf("/")))?.push(entries.at(i));
  }
  const lists = DPKG_INFO_DIRS.map((dir) => byDir.get(dir)!).find((found) => found.length > 0);
  if (lists === undefined) return undefined;
  lists.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const aliases = topLevelAliases(entries);
  const owners = new Map<string, string>();
  const shared = new Set<string>();
  const decoder = new TextDecoder();
  for (const list of lists) {
    const file = list.path.slice(list.path.lastIndexOf("/") + 1, -".list".length);
    const pkg = file.split(":")[0];
    for (const line of decoder.decode(await readEntryBytes(content, list)).split("\n")) {
      if (!line.startsWith("/") || line === "/.") continue;
      let path = line.slice(1).replace(/\/+$/, "");
      const slash = path.indexOf("/");
      const top = slash < 0 ? path : path.slice(0, slash);
      const alias = aliases.get(top);
      if (alias !== undefined) path = alias + path.slice(top.length);
      const owner = owners.get(path);
      if (owner === undefined) owners.set(path, pkg);
      else if (owner !== pkg) shared.add(path);
    }
  }
  for (const path of shared) owners.delete(path);
  return owners;
}
