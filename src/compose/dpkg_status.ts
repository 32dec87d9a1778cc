/**
 * The installed packages of a Debian tree, read from dpkg's database
 * (`/usr/lib/sysimage/dpkg/status` in the commits apt-ostree makes,
 * `/var/lib/dpkg/status` in older ones and plain Debian trees): what bootstrap and create record in commit
 * metadata, and what changed between a base and a deployment.
 *
 * @module
 */

import { join } from "node:path";
import { DPKG_DATABASE_DIRS } from "../layers/dpkg_owners.ts";
import { fsError } from "../util/fs.ts";
import { compareDebianVersions } from "../layers/dpkg_version.ts";
import { parseDpkgPackages } from "../sbom/dpkg.ts";

/** An installed package. */
export interface InstalledPackage {
  /** Package name. */
  name: string;
  /** Version as dpkg has it. */
  version: string;
  /** Debian architecture (`amd64`, `all`, …). */
  arch: string;
}

/**
 * Parses dpkg's status file and returns the installed packages (state
 * `installed`), sorted by name then architecture.
 *
 * @example
 * ```ts
 * import { parseDpkgStatus } from "./dpkg_status.ts";
 * parseDpkgStatus("Package: hello\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.10-3\n");
 * // [{ name: "hello", version: "2.10-3", arch: "amd64" }]
 * ```
 */
export function parseDpkgStatus(text: string): InstalledPackage[] {
  // One parser of the status file (the SBOM's, which keeps every field); this keeps name, version and architecture.
  return parseDpkgPackages(text).map(({ name, version, arch }) => ({ name, version, arch }));
}

/**
 * Reads the installed packages of the tree at `root`, from the first of
 * {@linkcode DPKG_DATABASE_DIRS} that has a status file; a tree without a
 * dpkg database has none.
 *
 * @example
 * ```ts
 * import { readInstalledPackages } from "./dpkg_status.ts";
 * const packages = await readInstalledPackages("/var/tmp/rootfs");
 * ```
 */
export async function readInstalledPackages(root: string): Promise<InstalledPackage[]> {
  for (const dir of DPKG_DATABASE_DIRS) {
    const path = join(root, dir, "status");
    try {
      return parseDpkgStatus(await Deno.readTextFile(path));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) continue;
      throw fsError("read", path, error);
    }
  }
  return [];
}

/**
 * Formats packages as `name=version` (`name:arch=version` for a package
 * installed for another architecture than `nativeArch`), the form that
 * `apt-get install` accepts and commit metadata records.
 *
 * @example
 * ```ts
 * import { formatPackages } from "./dpkg_status.ts";
 * formatPackages([{ name: "hello", version: "2.10-3", arch: "amd64" }], "amd64"); // ["hello=2.10-3"]
 * ```
 */
export function formatPackages(packages: readonly InstalledPackage[], nativeArch: string): string[] {
  return packages.map((p) =>
    p.arch === nativeArch || p.arch === "all" || p.arch === ""
      ? `${p.name}=${p.version}`
      : `${p.name}:${p.arch}=${p.version}`
  );
}

/**
 * The native architecture of a package set: that of `dpkg` itself, else the
 * most common one other than `all`.
 *
 * @example
 * ```ts
 * import { nativeArchOf } from "./dpkg_status.ts";
 * nativeArchOf([{ name: "dpkg", version: "1.21.22", arch: "amd64" }]); // "amd64"
 * ```
 */
export function nativeArchOf(packages: readonly InstalledPackage[]): string {
  const dpkg = packages.find((p) => p.name === "dpkg");
  if (dpkg) return dpkg.arch;
  const counts = new Map<string, number>();
  for (const p of packages) if (p.arch !== "all") counts.set(p.arch, (counts.get(p.arch) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? "";
}

/** What changed between two package sets. */
export interface PackageChanges {
  /** Packages that are new or have another version. */
  installed: InstalledPackage[];
  /** Packages that are gone. */
  removed: InstalledPackage[];
}

/**
 * Compares the packages of a base and of a deployment.
 *
 * @example
 * ```ts
 * import { diffPackages } from "./dpkg_status.ts";
 * const hello = { name: "hello", version: "2.10-3", arch: "amd64" };
 * diffPackages([], [hello]).installed; // [hello]
 * ```
 */
export function diffPackages(before: readonly InstalledPackage[], after: readonly InstalledPackage[]): PackageChanges {
  const key = (p: InstalledPackage) => `${p.name}:${p.arch}`;
  const old = new Map(before.map((p) => [key(p), p.version]));
  const now = new Set(after.map(key));
  return {
    installed: after.filter((p) => old.get(key(p)) !== p.version),
    removed: before.filter((p) => !now.has(key(p))),
  };
}

/** A package whose version changed: its old and new version. */
export interface PackageUpgrade {
  /** Package name. */
  name: string;
  /** Debian architecture. */
  arch: string;
  /** Version before. */
  oldVersion: string;
  /** Version after. */
  newVersion: string;
}

/** Packages installed by a compose, split by what they were before. */
export interface ClassifiedChanges {
  /** New packages. */
  added: InstalledPackage[];
  /** Packages with a later version (dpkg's comparison). */
  upgraded: PackageUpgrade[];
  /** Packages with an earlier version. */
  downgraded: PackageUpgrade[];
}

/**
 * Splits installed packages (new or with another version) into added,
 * upgraded and downgraded ones, against the packages `before`. A package
 * whose architecture is not known (`""`) matches by name alone.
 *
 * @example
 * ```ts
 * import { classifyChanges } from "./dpkg_status.ts";
 * const before = [{ name: "libc6", version: "2.36-9", arch: "amd64" }];
 * const after = [{ name: "libc6", version: "2.36-9+deb12u4", arch: "amd64" }, { name: "hello", version: "2.10-3", arch: "amd64" }];
 * classifyChanges(before, after).upgraded; // [{ name: "libc6", arch: "amd64", oldVersion: "2.36-9", newVersion: "2.36-9+deb12u4" }]
 * ```
 */
export function classifyChanges(
  before: readonly InstalledPackage[],
  installed: readonly InstalledPackage[],
): ClassifiedChanges {
  const old = new Map(before.map((p) => [`${p.name}:${p.arch}`, p]));
  const byName = new Map<string, InstalledPackage[]>();
  for (const p of before) byName.set(p.name, [...(byName.get(p.name) ?? []), p]);
  const out: ClassifiedChanges = { added: [], upgraded: [], downgraded: [] };
  for (const p of installed) {
    const sameName = byName.get(p.name) ?? [];
    const previous = old.get(`${p.name}:${p.arch}`) ??
      (p.arch === "" && sameName.length === 1 ? sameName[0] : undefined);
    if (!previous) {
      out.added.push(p);
      continue;
    }
    if (previous.version === p.version) continue;
    const change = { name: p.name, arch: p.arch || previous.arch, oldVersion: previous.version, newVersion: p.version };
    if (compareDebianVersions(p.version, previous.version) >= 0) out.upgraded.push(change);
    else out.downgraded.push(change);
  }
  return out;
}
