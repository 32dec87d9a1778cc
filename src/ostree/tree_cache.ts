/**
 * A cache of commit listings, so that listing a commit again costs a file
 * read, and listing a new commit costs only what changed.
 *
 * OSTree trees are Merkle trees: a directory's dirtree checksum covers the
 * names, content checksums (which cover content, mode, owner and xattrs)
 * and subdirectories of everything below it. So when a directory of the new
 * commit has the dirtree checksum of a directory in a cached listing, its
 * whole subtree is that cached subtree, exactly. The new commit is listed
 * level by level, without recursion, and only directories whose checksum is
 * not cached are descended into: an update that changes one file costs a
 * few small `ostree ls` runs instead of a full listing.
 *
 * Listings live in the repository (`tmp/cache/apt-ostree-trees/`), one file
 * per commit, the newest few kept. Without write access there, nothing is
 * cached and listing works as before.
 *
 * @module
 */

import { join } from "node:path";
import { randomSuffix, removeQuietly, writeAll } from "../util/fs.ts";
import { comparePaths } from "../util/path_order.ts";
import type { OstreeRepo } from "./repo.ts";
import { listCommitTree, listPaths, listRecursively, type ListTreeOptions, type TreeEntry } from "./tree.ts";

/** Version of the cache file format. */
const CACHE_FORMAT = 1;
/** Listings kept per repository. */
const KEEP = 8;
/** Entries encoded per slice when a listing is saved. */
const SAVE_SLICE = 4096;
/** Levels listed one by one before the rest is listed recursively. */
const MAX_LEVELS = 16;
/** Directories of one level listed one by one before the rest is listed recursively. */
const MAX_FRONTIER = 256;

type CachedRow = [
  path: string,
  kind: "f" | "d" | "l",
  mode: number,
  uid: number,
  gid: number,
  size: number,
  checksum: string,
  metaChecksum: string | null,
  target: string | null,
  xattrs: [string, string][] | null,
];

const KIND_CODE: Record<TreeEntry["kind"], CachedRow[1]> = { file: "f", directory: "d", symlink: "l" };
const KIND_NAME: Record<CachedRow[1], TreeEntry["kind"]> = { f: "file", d: "directory", l: "symlink" };

function toRow(e: TreeEntry): CachedRow {
  return [
    e.sourcePath,
    KIND_CODE[e.kind],
    e.mode,
    e.uid,
    e.gid,
    e.size,
    e.checksum,
    e.metaChecksum ?? null,
    e.target ?? null,
    e.xattrs.length > 0 ? e.xattrs.map((x) => [x.name, btoa(String.fromCharCode(...x.value))]) : null,
  ];
}

function fromRow(r: CachedRow): TreeEntry {
  const entry: TreeEntry = {
    path: r[0],
    sourcePath: r[0],
    kind: KIND_NAME[r[1]],
    mode: r[2],
    uid: r[3],
    gid: r[4],
    size: r[5],
    checksum: r[6],
    xattrs: r[9]
      ? r[9].map(([name, value]) => ({ name, value: Uint8Array.from(atob(value), (c) => c.charCodeAt(0)) }))
      : [],
  };
  if (r[7] !== null) entry.metaChecksum = r[7];
  if (r[8] !== null) entry.target = r[8];
  return entry;
}

function cloneEntry(e: TreeEntry, sourcePath: string): TreeEntry {
  return { ...e, path: sourcePath, sourcePath, xattrs: e.xattrs.map((x) => ({ name: x.name, value: x.value })) };
}

/**
 * Listings of commits, stored as files in a directory.
 *
 * @example
 * ```ts
 * import { OstreeRepo } from "./repo.ts";
 * import { TreeCache } from "./tree_cache.ts";
 * const cache = await TreeCache.forRepo(await OstreeRepo.open("repo"));
 * const entries = await cache?.load("0123…");
 * ```
 */
export class TreeCache {
  constructor(readonly dir: string) {}

  /** The cache of a repository, or undefined when it cannot be written. */
  static async forRepo(repo: OstreeRepo): Promise<TreeCache | undefined> {
    const dir = join(repo.path, "tmp", "cache", "apt-ostree-trees");
    try {
      await Deno.mkdir(dir, { recursive: true });
      const probe = join(dir, `.probe-${randomSuffix()}`);
      await Deno.writeFile(probe, new Uint8Array(0));
      await Deno.remove(probe);
      return new TreeCache(dir);
    } catch {
      return undefined;
    }
  }

  private file(commit: string): string {
    return join(this.dir, `${commit}.json`);
  }

  /** The cached listing of a commit (fresh objects), or undefined. */
  async load(commit: string): Promise<TreeEntry[] | undefined> {
    try {
      const data = JSON.parse(await Deno.readTextFile(this.file(commit)));
      if (data?.format !== CACHE_FORMAT || data.commit !== commit || !Array.isArray(data.entries)) return undefined;
      return (data.entries as CachedRow[]).map(fromRow);
    } catch {
      return undefined; // missing or damaged: list again
    }
  }

  /** Stores a listing (before anything modifies it); keeps the newest few. */
  async save(commit: string, entries: readonly TreeEntry[]): Promise<void> {
    // Rows are encoded now (the caller may change the entries afterwards)
    // and written a slice at a time, not as one big string.
    const slices: string[] = [];
    for (let i = 0; i < entries.length; i += SAVE_SLICE) {
      slices.push(JSON.stringify(entries.slice(i, i + SAVE_SLICE).map(toRow)).slice(1, -1));
    }
    const tmp = join(this.dir, `.${commit}.${randomSuffix()}`);
    try {
      const file = await Deno.open(tmp, { createNew: true, write: true });
      try {
        const encoder = new TextEncoder();
        const write = (text: string) => writeAll(file, encoder.encode(text));
        await write(`{"format":${CACHE_FORMAT},"commit":"${commit}","entries":[`);
        for (let i = 0; i < slices.length; i++) {
          await write((i > 0 ? "," : "") + slices[i]);
          slices[i] = "";
        }
        await write("]}");
      } finally {
        file.close();
      }
      await Deno.rename(tmp, this.file(commit));
      const files: { name: string; mtime: number }[] = [];
      for await (const f of Deno.readDir(this.dir)) {
        if (!f.name.endsWith(".json")) continue;
        const info = await Deno.stat(join(this.dir, f.name)).catch(() => undefined);
        if (info) files.push({ name: f.name, mtime: info.mtime?.getTime() ?? 0 });
      }
      files.sort((a, b) => b.mtime - a.mtime);
      for (const old of files.slice(KEEP)) await removeQuietly(join(this.dir, old.name));
    } catch {
      await removeQuietly(tmp); // a cache that cannot be written is no cache
    }
  }

  /** The commit of the most recently stored listing, if any. */
  async newest(): Promise<string | undefined> {
    let best: { commit: string; mtime: number } | undefined;
    try {
      for await (const f of Deno.readDir(this.dir)) {
        const m = /^([0-9a-f]{64})\.json$/.exec(f.name);
        if (!m) continue;
        const info = await Deno.stat(join(this.dir, f.name)).catch(() => undefined);
        const mtime = info?.mtime?.getTime() ?? 0;
        if (!best || mtime > best.mtime) best = { commit: m[1], mtime };
      }
    } catch {
      return undefined;
    }
    return best?.commit;
  }
}

/** Subtrees of a listing by dirtree checksum: the directory's path and everything below it. */
function subtreesByChecksum(entries: TreeEntry[]): Map<string, { path: string; below: TreeEntry[] }> {
  // In component order everything below "a/b" comes right after it.
  const sorted = [...entries].sort((a, b) => comparePaths(a.sourcePath, b.sourcePath));
  const byChecksum = new Map<string, { path: string; below: TreeEntry[] }>();
  const open: { path: string; below: TreeEntry[] }[] = [];
  for (const e of sorted) {
    while (open.length > 0 && !e.sourcePath.startsWith(open[open.length - 1].path + "/")) open.pop();
    for (const o of open) o.below.push(e);
    if (e.kind === "directory") {
      const node = { path: e.sourcePath, below: [] as TreeEntry[] };
      if (!byChecksum.has(e.checksum)) byChecksum.set(e.checksum, node);
      open.push(node);
    }
  }
  return byChecksum;
}

function relative(absolute: string): string {
  return absolute === "/" ? "" : absolute.slice(1);
}

/**
 * Lists `commit` reusing the subtrees of `base` (a listing of another
 * commit) whose dirtree checksums it shares. Returns undefined when the
 * listing cannot be done that way (ambiguous names), so that the caller
 * lists in full.
 *
 * @example
 * ```ts
 * import { OstreeRepo } from "./repo.ts";
 * import { listCommitTree } from "./tree.ts";
 * import { listIncrementally } from "./tree_cache.ts";
 * const repo = await OstreeRepo.open("repo");
 * const base = await listCommitTree(repo, "main^");
 * const entries = await listIncrementally(repo, "main", base);
 * ```
 */
export async function listIncrementally(
  repo: OstreeRepo,
  commit: string,
  base: TreeEntry[],
  options: ListTreeOptions = {},
): Promise<TreeEntry[] | undefined> {
  const subtrees = subtreesByChecksum(base);
  const out: TreeEntry[] = [];
  let frontier = ["/"];
  for (let level = 0; frontier.length > 0; level++) {
    const recursive = level >= MAX_LEVELS || frontier.length > MAX_FRONTIER;
    const parts = recursive
      ? await listRecursively(repo, commit, frontier, options)
      : [await listPaths(repo, commit, frontier, false, options)];
    if (parts.some((p) => p.needExactNames)) return undefined;
    const listed = new Set(frontier);
    const next: string[] = [];
    for (const entry of parts.flatMap((p) => p.entries)) {
      if (listed.has(entry.sourcePath)) continue; // a listed directory's own line: seen as a child already
      const path = relative(entry.sourcePath);
      entry.sourcePath = path;
      entry.path = path;
      out.push(entry);
      if (recursive || entry.kind !== "directory") continue;
      const cached = subtrees.get(entry.checksum);
      if (cached) {
        for (const below of cached.below) {
          out.push(cloneEntry(below, path + below.sourcePath.slice(cached.path.length)));
        }
      } else {
        next.push("/" + path);
      }
    }
    if (recursive) break;
    frontier = next;
  }
  return out;
}

/** Options for {@linkcode listCommitTreeCached}. */
export interface CachedListOptions extends ListTreeOptions {
  /** The cache (none: list in full). */
  cache?: TreeCache;
  /** A commit whose cached listing probably shares most of this one (e.g. the previous build's). */
  near?: string;
}

/**
 * Lists a commit through the cache: a cached listing of the commit itself,
 * else an incremental listing from a nearby commit's, else a full listing;
 * what was listed is stored for next time.
 *
 * @example
 * ```ts
 * import { OstreeRepo } from "./repo.ts";
 * import { listCommitTreeCached, TreeCache } from "./tree_cache.ts";
 * const repo = await OstreeRepo.open("repo");
 * const entries = await listCommitTreeCached(repo, "0123…", { cache: await TreeCache.forRepo(repo) });
 * ```
 */
export async function listCommitTreeCached(
  repo: OstreeRepo,
  commit: string,
  options: CachedListOptions = {},
): Promise<TreeEntry[]> {
  const cache = options.cache;
  if (!cache) return await listCommitTree(repo, commit, options);
  const cached = await cache.load(commit);
  if (cached) return cached;
  let entries: TreeEntry[] | undefined;
  const nearCommit = options.near && options.near !== commit ? options.near : await cache.newest();
  const near = nearCommit ? await cache.load(nearCommit) : undefined;
  if (near) entries = await listIncrementally(repo, commit, near, options);
  entries ??= await listCommitTree(repo, commit, options);
  await cache.save(commit, entries);
  return entries;
}
