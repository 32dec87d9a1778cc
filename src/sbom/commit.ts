/**
 * Reading an SBOM's input out of an OSTree commit, never out of a checkout
 * (or the host): dpkg's status file (where apt-ostree keeps it,
 * {@linkcode DPKG_DATABASE_DIRS}, new place first), `os-release`, and the
 * packages' DEP-5 copyright files, all read from the repository's objects.
 *
 * @module
 */

import { AptOstreeError } from "../errors.ts";
import { DPKG_DATABASE_DIRS } from "../layers/dpkg_owners.ts";
import { type ContentSource, contentSourceFor, readEntryBytes } from "../ostree/content.ts";
import type { OstreeRepo } from "../ostree/repo.ts";
import { commitPathKind, type TreeEntries, type TreeEntry } from "../ostree/tree.ts";
import { VERSION } from "../version.ts";
import { type DpkgPackage, type PackageLicense, parseDep5License, parseDpkgPackages, parseOsRelease } from "./dpkg.ts";
import { sbomBytes, type SbomFormat, type SbomInput } from "./documents.ts";

/** Where `os-release` may be in a commit, in the order read. */
export const OS_RELEASE_PATHS: readonly string[] = ["usr/lib/os-release", "usr/etc/os-release", "etc/os-release"];

/** Copyright files larger than this are not read for licences (`NOASSERTION`). */
const MAX_COPYRIGHT_SIZE = 1 << 20;

/** A regular file of the tree by path, following symlinks (in any component) within the tree. */
function findFile(entries: TreeEntries, path: string): TreeEntry | undefined {
  const get = (path: string) => {
    const index = entries.indexOfSource(path);
    return index < 0 ? undefined : entries.at(index);
  };
  let parts = path.split("/");
  for (let hops = 0, i = 0; i < parts.length && hops < 16; i++) {
    const prefix = parts.slice(0, i + 1).join("/");
    const entry = get(prefix);
    if (!entry) return undefined;
    if (entry.kind === "symlink" && entry.target !== undefined) {
      hops++;
      const base = entry.target.startsWith("/") ? [] : parts.slice(0, i);
      const resolved: string[] = [];
      for (const part of [...base, ...entry.target.split("/"), ...parts.slice(i + 1)]) {
        if (part === "" || part === ".") continue;
        if (part === "..") resolved.pop();
        else resolved.push(part);
      }
      parts = resolved;
      i = -1;
    }
  }
  const entry = get(parts.join("/"));
  return entry?.kind === "file" ? entry : undefined;
}

/**
 * Whether a commit's tree (as listed by `readTree`) has a dpkg database,
 * that is, whether an SBOM can be made from it.
 *
 * @example
 * ```ts
 * import { hasDpkgDatabase } from "./commit.ts";
 * import { TreeEntries } from "../ostree/tree.ts";
 * hasDpkgDatabase(TreeEntries.from([])); // false
 * ```
 */
export function hasDpkgDatabase(entries: TreeEntries): boolean {
  return DPKG_DATABASE_DIRS.some((dir) => findFile(entries, `${dir}/status`) !== undefined);
}

/** The packages, os-release and licences of a commit's tree. */
export interface CommitPackages {
  /** Installed packages, sorted. */
  packages: DpkgPackage[];
  /** `os-release` fields. */
  osRelease: Map<string, string>;
  /** Licences by package name (DEP-5 copyright files only). */
  licenses: Map<string, PackageLicense>;
  /** Where dpkg's status file was (relative to the root). */
  statusPath: string;
}

/**
 * Reads the installed packages (with licences) and `os-release` of a
 * commit's tree, as listed by `readTree` (paths as stored in the commit).
 * Throws when the tree has no dpkg database.
 *
 * @example
 * ```ts
 * import { readCommitPackages } from "./commit.ts";
 * import { contentSourceFor } from "../ostree/content.ts";
 * import { OstreeRepo } from "../ostree/repo.ts";
 * const repo = await OstreeRepo.open("repo");
 * const entries = await repo.readTree(await repo.resolveCommit("debian/12/x86_64"));
 * const { packages } = await readCommitPackages(entries, contentSourceFor(repo), "debian/12/x86_64");
 * ```
 */
export async function readCommitPackages(
  entries: TreeEntries,
  content: ContentSource,
  where: string,
): Promise<CommitPackages> {
  const decoder = new TextDecoder();
  let status: TreeEntry | undefined;
  let statusPath = "";
  for (const dir of DPKG_DATABASE_DIRS) {
    statusPath = `${dir}/status`;
    status = findFile(entries, statusPath);
    if (status) break;
  }
  if (!status) {
    throw new AptOstreeError(
      `${where} has no dpkg database (no ${DPKG_DATABASE_DIRS.map((d) => `/${d}/status`).join(" or ")})`,
      { solution: "An SBOM is made from dpkg's database: build this commit without {sbom}" },
    );
  }
  const packages = parseDpkgPackages(decoder.decode(await readEntryBytes(content, status)));
  let osRelease = new Map<string, string>();
  for (const path of OS_RELEASE_PATHS) {
    const entry = findFile(entries, path);
    if (!entry) continue;
    osRelease = parseOsRelease(decoder.decode(await readEntryBytes(content, entry)));
    break;
  }
  const licenses = new Map<string, PackageLicense>();
  for (const name of new Set(packages.map((p) => p.name))) {
    const entry = findFile(entries, `usr/share/doc/${name}/copyright`);
    if (!entry || entry.size > MAX_COPYRIGHT_SIZE) continue;
    const license = parseDep5License(decoder.decode(await readEntryBytes(content, entry)));
    if (license) licenses.set(name, license);
  }
  return { packages, osRelease, licenses, statusPath };
}

/** Options for {@linkcode commitSbom}. */
export interface CommitSbomOptions {
  /** The commit checksum. */
  commit: string;
  /** What the document describes: the image's name, or the ref. */
  name: string;
  /** Whether it describes an image (else the commit). */
  image: boolean;
  /** The formats to make. */
  formats: readonly SbomFormat[];
  /** The commit's tree when already listed (else it is read). */
  entries?: TreeEntries;
  /** Aborts the reading. */
  signal?: AbortSignal;
  /** Make nothing (an empty map) for a commit without a dpkg database, instead of failing. */
  ifDpkgDatabase?: boolean;
}

/**
 * Makes the SBOM documents of a commit, read from the repository's objects:
 * the same commit and name give the same bytes.
 *
 * @example
 * ```ts
 * import { commitSbom } from "./commit.ts";
 * import { OstreeRepo } from "../ostree/repo.ts";
 * const repo = await OstreeRepo.open("repo");
 * const commit = await repo.resolveCommit("debian/12/x86_64");
 * const docs = await commitSbom(repo, { commit, name: "debian/12/x86_64", image: false, formats: ["spdx"] });
 * await Deno.writeFile("sbom.spdx.json", docs.get("spdx")!);
 * ```
 */
export async function commitSbom(
  repo: OstreeRepo,
  options: CommitSbomOptions,
): Promise<Map<SbomFormat, Uint8Array>> {
  const info = await repo.readCommit(options.commit, { signal: options.signal });
  if (options.ifDpkgDatabase && options.entries === undefined) {
    // Without the tree at hand, a few dirtree reads tell whether there is anything to do (a listing can take seconds).
    // A database directory that is a symlink (somewhere else) is left to the full listing, which follows it.
    let maybe = false;
    for (const dir of DPKG_DATABASE_DIRS) {
      if (await commitPathKind(repo, info, `${dir}/status`) !== undefined) maybe = true;
      if (await commitPathKind(repo, info, dir) === "file") maybe = true;
    }
    if (!maybe) return new Map();
  }
  const entries = options.entries ?? await repo.readTree(options.commit, { signal: options.signal });
  if (options.ifDpkgDatabase && !hasDpkgDatabase(entries)) return new Map();
  const found = await readCommitPackages(entries, contentSourceFor(repo), options.name);
  const input: SbomInput = {
    name: options.name,
    image: options.image,
    commit: options.commit,
    ...(info.version !== undefined ? { version: info.version } : {}),
    timestamp: info.timestamp,
    tool: { name: "apt-ostree", version: VERSION },
    osRelease: found.osRelease,
    packages: found.packages,
    licenses: found.licenses,
  };
  return new Map(options.formats.map((format) => [format, sbomBytes(format, input)]));
}
