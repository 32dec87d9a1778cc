/**
 * Reads the whole tree of a commit (paths, types, modes, owners, sizes,
 * checksums, xattrs and symlink targets) straight from the repository's
 * objects, so that metadata always comes from the commit and never from a
 * checkout made by whoever runs the tool.
 *
 * The commit names its root dirtree (files and subdirectories, each sorted
 * by name, with their checksums) and dirmeta (owner, mode, xattrs);
 * dirtrees name subdirectories' dirtrees and dirmetas, and content objects
 * for files and symlinks, whose metadata each repository mode stores in its
 * own way (see {@linkcode readCommitTree}). All of these are decoded here
 * (GVariant, `gvariant.ts` and `objects.ts`); nothing runs `ostree`.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { AptOstreeError } from "../errors.ts";
import { GVariantError, GVariantUtf8Error } from "./gvariant.ts";
import {
  archiveHeaderLength,
  type DirTree,
  type ObjectMeta,
  parseArchiveFileHeader,
  parseDirMeta,
  parseDirTree,
} from "./objects.ts";
import type { OstreeRepo } from "./repo.ts";
import { type Xattr, XATTR_EACCES, XATTR_EPERM, XattrError } from "../util/xattr.ts";
import type { EntryKind } from "../tar/layer_tar.ts";
import { ObjectStatter, openReader } from "./object_stat.ts";
import { TreeEntries, TreeEntriesBuilder, type TreeEntry } from "./tree_entries.ts";

/** An extended attribute (defined in `util/xattr.ts`). */
export type { Xattr };

export type { EntryKind };

export { TreeEntries, type TreeEntry };

function invalidName(path: string): AptOstreeError {
  return new AptOstreeError(`File name is not valid UTF-8: ${path}`, {
    solution: "Rename the file in the source tree: OCI layers and bootc need UTF-8 paths",
  });
}

function unsupportedType(path: string, type: string): AptOstreeError {
  const names: Record<string, string> = { c: "character device", b: "block device", p: "FIFO", s: "socket" };
  return new AptOstreeError(`Cannot put ${path} into a layer: unsupported file type (${names[type] ?? type})`, {
    solution: "OSTree commits hold regular files, directories and symlinks only; remove that entry from the tree",
  });
}

/** Options for {@linkcode readCommitTree}. */
export interface ReadTreeOptions {
  /** Aborts the reading. */
  signal?: AbortSignal;
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;

/** What a content object records, whatever the repository mode. */
interface FileMeta {
  /** The checksum string every entry with this content shares (one string, not one per path). */
  checksum?: string;
  kind: "file" | "symlink";
  mode: number;
  uid: number;
  gid: number;
  size: number;
  target?: string;
  xattrs: Xattr[];
}

type ObjectKind = "commit" | "dirtree" | "dirmeta" | "file";

const OBJECT_NAMES: Record<ObjectKind, string> = {
  commit: "commit",
  dirtree: "directory tree",
  dirmeta: "directory metadata",
  file: "file",
};

/**
 * Turns a failure to read or decode an object into an error that names the
 * object and the path it was read for.
 */
function objectFailure(repo: OstreeRepo, checksum: string, kind: ObjectKind, path: string, error: unknown): Error {
  if (error instanceof AptOstreeError) return error;
  const where = "/" + path.replace(/\/$/, "");
  const file = kind === "file" ? repo.objectPath(checksum) : repo.objectPath(checksum, kind);
  if (error instanceof Deno.errors.PermissionDenied) {
    return new AptOstreeError(`Permission denied reading the repository ${repo.path} (object ${file} for ${where})`, {
      solution: "Run as a user who can read every object of the repository (a bare repository needs root)",
      cause: error,
    });
  }
  if (error instanceof Deno.errors.NotFound) {
    return new AptOstreeError(
      `The repository ${repo.path} is missing the ${OBJECT_NAMES[kind]} object ${checksum} (for ${where})`,
      {
        solution: `Check the repository with: ostree fsck --repo=${repo.path} (then pull or commit the tree again)`,
        cause: error,
      },
    );
  }
  if (error instanceof GVariantUtf8Error) return invalidName(where + "/" + error.lossy);
  const detail = error instanceof Error ? error.message : String(error);
  return new AptOstreeError(`Corrupt ${OBJECT_NAMES[kind]} object ${file} (for ${where}): ${detail}`, {
    solution: `Check the repository with: ostree fsck --repo=${repo.path}`,
    cause: error,
  });
}

function kindOf(mode: number, path: string): "file" | "symlink" {
  const type = mode & S_IFMT;
  if (type === S_IFREG) return "file";
  if (type === S_IFLNK) return "symlink";
  const names: Record<number, string> = { 0o020000: "c", 0o060000: "b", 0o010000: "p", 0o140000: "s" };
  throw unsupportedType("/" + path, names[type] ?? `mode ${mode.toString(8)}`);
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** A bare-user symlink object's content: the target (ostree writes it with a trailing NUL). */
function readTarget(content: Uint8Array, path: string): string {
  const end = content.indexOf(0);
  const bytes = end >= 0 ? content.subarray(0, end) : content;
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw invalidName(`${"/" + path} -> ${new TextDecoder().decode(bytes)}`);
  }
}

/** Reads a content object's metadata the way the repository's mode stores it. */
function fileMetaReader(repo: OstreeRepo, objects: ObjectStatter): (checksum: string, path: string) => FileMeta {
  const rel = (checksum: string) => `${checksum.slice(0, 2)}/${checksum.slice(2)}.file`;
  switch (repo.mode) {
    case "archive": {
      // Headers are decoded into fresh values, so one buffer serves every object.
      const buffer = new Uint8Array(4096);
      return (checksum, path) => {
        const file = openReader(repo.objectPath(checksum));
        try {
          let head = buffer;
          let got = file.read(head);
          const need = 8 + archiveHeaderLength(head.subarray(0, got));
          if (need > got) {
            head = new Uint8Array(need);
            head.set(buffer.subarray(0, got));
            while (got < need) {
              const n = file.read(head.subarray(got, need));
              if (n === 0) break;
              got += n;
            }
          }
          const header = parseArchiveFileHeader(head.subarray(0, got));
          const kind = kindOf(header.mode, path);
          return {
            kind,
            mode: header.mode,
            uid: header.uid,
            gid: header.gid,
            size: kind === "file" ? header.size : 0,
            target: kind === "symlink" ? header.target : undefined,
            xattrs: header.xattrs,
          };
        } finally {
          file.close();
        }
      };
    }
    case "bare-user":
      return (checksum, path) => {
        const file = rel(checksum);
        const info = objects.stat(file);
        if ((info.mode & S_IFMT) !== S_IFREG) throw new GVariantError("a bare-user object is not a regular file");
        const raw = objects.xattr(file, "user.ostreemeta");
        if (!raw) throw new GVariantError("it has no user.ostreemeta xattr");
        const meta = parseDirMeta(raw);
        const kind = kindOf(meta.mode, path);
        // As libostree does: older versions wrote these unsorted.
        meta.xattrs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        return {
          kind,
          mode: meta.mode,
          uid: meta.uid,
          gid: meta.gid,
          size: kind === "file" ? info.size : 0,
          target: kind === "symlink" ? readTarget(readFileSync(repo.objectPath(checksum)), path) : undefined,
          xattrs: meta.xattrs,
        };
      };
    case "bare":
    case "bare-user-only":
      return (checksum, path) => {
        const file = rel(checksum);
        const info = objects.stat(file);
        const kind = kindOf(info.mode, path);
        const owned = repo.mode === "bare";
        return {
          kind,
          mode: info.mode,
          uid: owned ? info.uid : 0,
          gid: owned ? info.gid : 0,
          size: kind === "file" ? info.size : 0,
          target: kind === "symlink" ? Deno.readLinkSync(repo.objectPath(checksum)) : undefined,
          xattrs: owned ? objects.xattrs(file) : [],
        };
      };
    case "bare-split-xattrs":
      throw new AptOstreeError(`Cannot read ${repo.path}: repositories in bare-split-xattrs mode are not supported`, {
        solution:
          `Copy the commit into a bare or archive repository (ostree init --mode=bare --repo=NEW && ostree pull-local --repo=NEW ${repo.path} REF) and build from that one`,
      });
  }
}

/**
 * Reads a commit's tree from its objects, memoising what it decodes: each
 * dirtree and dirmeta object is read once, and each content object once
 * however many paths share it (hardlinks, identical files, identical
 * subtrees).
 */
class TreeReader {
  private readonly dirtrees = new Map<string, DirTree>();
  private readonly dirmetas = new Map<string, ObjectMeta>();
  private readonly files = new Map<string, FileMeta>();
  /** Dirtrees being walked (the current directory and its parents). */
  private readonly walking = new Set<string>();
  private readonly readFileMeta: (checksum: string, path: string) => FileMeta;

  constructor(
    private readonly repo: OstreeRepo,
    private readonly objects: ObjectStatter,
    private readonly signal?: AbortSignal,
  ) {
    this.readFileMeta = fileMetaReader(repo, objects);
  }

  private dirtree(checksum: string, path: string): DirTree {
    let tree = this.dirtrees.get(checksum);
    if (!tree) {
      try {
        tree = parseDirTree(readFileSync(this.repo.objectPath(checksum, "dirtree")));
      } catch (error) {
        throw objectFailure(this.repo, checksum, "dirtree", path, toDenoError(error));
      }
      this.dirtrees.set(checksum, tree);
    }
    return tree;
  }

  dirmeta(checksum: string, path: string): ObjectMeta {
    let meta = this.dirmetas.get(checksum);
    if (!meta) {
      try {
        meta = parseDirMeta(readFileSync(this.repo.objectPath(checksum, "dirmeta")));
        if ((meta.mode & S_IFMT) !== S_IFDIR) {
          throw new GVariantError(`mode ${meta.mode.toString(8)} is not a directory's`);
        }
      } catch (error) {
        throw objectFailure(this.repo, checksum, "dirmeta", path, toDenoError(error));
      }
      this.dirmetas.set(checksum, meta);
    }
    return meta;
  }

  private file(checksum: string, path: string): FileMeta {
    let meta = this.files.get(checksum);
    if (!meta) {
      try {
        meta = this.readFileMeta(checksum, path);
      } catch (error) {
        throw objectFailure(this.repo, checksum, "file", path, toDenoError(error));
      }
      meta.checksum = checksum;
      this.files.set(checksum, meta);
    }
    return meta;
  }

  /** Appends the entries below a directory, in path order (a directory's entries right after it). */
  walk(tree: string, prefix: string, out: TreeEntriesBuilder): void {
    this.signal?.throwIfAborted();
    if (this.walking.has(tree)) {
      // Only a damaged object can name itself or a parent (checksums cover subtrees).
      throw objectFailure(this.repo, tree, "dirtree", prefix, new GVariantError("it contains itself"));
    }
    this.walking.add(tree);
    const { files, dirs } = this.dirtree(tree, prefix);
    let f = 0;
    let d = 0;
    while (f < files.length || d < dirs.length) {
      if (d >= dirs.length || (f < files.length && files[f].name < dirs[d].name)) {
        const { name, checksum } = files[f++];
        const path = prefix + name;
        const meta = this.file(checksum, path);
        const row = out.add(path, meta.kind, meta.mode, meta.uid, meta.gid, meta.size, meta.checksum!, meta.xattrs);
        if (meta.target !== undefined) out.setTarget(row, meta.target);
      } else {
        const dir = dirs[d++];
        const path = prefix + dir.name;
        const meta = this.dirmeta(dir.meta, path);
        out.add(path, "directory", meta.mode, meta.uid, meta.gid, 0, dir.tree, meta.xattrs, dir.meta);
        this.walk(dir.tree, path + "/", out);
      }
    }
    this.walking.delete(tree);
  }
}

/** `node:fs` errors carry a code; map the ones we explain to Deno's classes. */
function toDenoError(error: unknown): unknown {
  const code = (error as { code?: string })?.code;
  if (code === "ENOENT") return new Deno.errors.NotFound((error as Error).message);
  if (code === "EACCES" || code === "EPERM") return new Deno.errors.PermissionDenied((error as Error).message);
  if (error instanceof XattrError && (error.errno === XATTR_EACCES || error.errno === XATTR_EPERM)) {
    return new Deno.errors.PermissionDenied(error.message);
  }
  return error;
}

/**
 * Reads every entry of a commit's tree (root excluded) straight from the
 * repository's objects: the commit, its dirtree and dirmeta objects, and
 * each content object's metadata as the repository's mode stores it
 * (archive: the `.filez` header; bare-user: the `user.ostreemeta` xattr;
 * bare: the object's own owner, mode and xattrs; bare-user-only: mode only,
 * owned by root; bare-split-xattrs is refused). Entries come in path order
 * (component by component: a directory's entries right after it).
 *
 * @example
 * ```ts
 * import { OstreeRepo } from "./repo.ts";
 * import { readCommitTree } from "./tree.ts";
 * const repo = await OstreeRepo.open("repo");
 * for (const entry of await readCommitTree(repo, await repo.resolveCommit("main"))) console.log(entry.path, entry.mode);
 * ```
 */
export async function readCommitTree(
  repo: OstreeRepo,
  commit: string,
  options: ReadTreeOptions = {},
): Promise<TreeEntries> {
  const checksum = /^[0-9a-f]{64}$/.test(commit) ? commit : await repo.resolveCommit(commit, options);
  const info = await repo.readCommit(checksum, options);
  const objects = new ObjectStatter(`${repo.path}/objects`);
  try {
    const reader = new TreeReader(repo, objects, options.signal);
    reader.dirmeta(info.rootMetadata, "");
    const out = new TreeEntriesBuilder();
    reader.walk(info.rootContents, "", out);
    return out.finish();
  } finally {
    objects.close();
  }
}

/**
 * Whether `path` exists in a commit's tree, and as what: walks the dirtrees
 * along the path only (a few object reads), where {@linkcode readCommitTree}
 * reads everything. Symlinks are not followed. `commit` is a checksum, or
 * the commit already read.
 *
 * @example
 * ```ts
 * import { OstreeRepo } from "./repo.ts";
 * import { commitPathKind } from "./tree.ts";
 * const repo = await OstreeRepo.open("repo");
 * await commitPathKind(repo, await repo.resolveCommit("main"), "usr/lib/os-release"); // "file", "directory" or undefined
 * ```
 */
export async function commitPathKind(
  repo: OstreeRepo,
  commit: string | { rootContents: string },
  path: string,
): Promise<"file" | "directory" | undefined> {
  let tree = typeof commit === "string" ? (await repo.readCommit(commit)).rootContents : commit.rootContents;
  const parts = path.split("/").filter((p) => p !== "");
  for (const [i, name] of parts.entries()) {
    let parsed: DirTree;
    try {
      parsed = parseDirTree(readFileSync(repo.objectPath(tree, "dirtree")));
    } catch (error) {
      throw objectFailure(repo, tree, "dirtree", parts.slice(0, i).join("/"), toDenoError(error));
    }
    const dir = parsed.dirs.find((d) => d.name === name);
    if (dir) {
      if (i === parts.length - 1) return "directory";
      tree = dir.tree;
      continue;
    }
    // Files and symlinks alike: a content object (what it is needs the object itself; callers ask for files).
    return i === parts.length - 1 && parsed.files.some((f) => f.name === name) ? "file" : undefined;
  }
  return "directory";
}
