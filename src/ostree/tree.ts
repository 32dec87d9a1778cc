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
import { type DirTree, type ObjectMeta, parseDirMeta, parseDirTree } from "./objects.ts";
import type { OstreeRepo } from "./repo.ts";
import { type Xattr, XATTR_EACCES, XATTR_EPERM, XattrError } from "../util/xattr.ts";
import type { EntryKind } from "../tar/layer_tar.ts";
import { ObjectStatter } from "./object_stat.ts";
import { type FileMeta, fileMetaReader, invalidName, type ObjectMetas } from "./object_meta.ts";
import { TreeEntries, TreeEntriesBuilder, type TreeEntry } from "./tree_entries.ts";

/** An extended attribute (defined in `util/xattr.ts`). */
export type { Xattr };

export type { EntryKind };

export { TreeEntries, type TreeEntry };

/** Threads that run a module's function (the build's `DeflatePool`). */
export interface TreeReadThreads {
  /** Whether calls run on other threads. */
  readonly parallel: boolean;
  /** Calls `fn` of `module` with `args` on another thread; aborting `signal` takes back a call not yet started. */
  call<T>(module: URL, fn: string, args: unknown[], options?: { signal?: AbortSignal }): Promise<T>;
}

/** Options for {@linkcode readCommitTree}. */
export interface ReadTreeOptions {
  /** Aborts the reading. */
  signal?: AbortSignal;
  /**
   * Threads for the content objects' system calls (`statx`, xattrs), made
   * there while this thread decodes dirtrees; used for trees of many
   * objects.
   */
  threads?: TreeReadThreads;
}

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

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

  /** Set when content objects are read on other threads: their rows wait for them. */
  private readonly deferred?: DeferredFiles;

  constructor(
    private readonly repo: OstreeRepo,
    private readonly objects: ObjectStatter,
    private readonly signal?: AbortSignal,
    threads?: TreeReadThreads,
  ) {
    this.readFileMeta = fileMetaReader(`${repo.path}/objects`, repo.mode, objects);
    if (threads?.parallel) this.deferred = new DeferredFiles(repo, threads);
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
      meta = this.readObject(checksum, path);
      this.files.set(checksum, meta);
    }
    return meta;
  }

  /** Reads a content object's metadata (not memoised); errors name the object and `path`. */
  readObject(checksum: string, path: string): FileMeta {
    try {
      return this.readFileMeta(checksum, path);
    } catch (error) {
      throw objectFailure(this.repo, checksum, "file", path, toDenoError(error));
    }
  }

  /** Appends the entries below a directory, in path order (a directory's entries right after it). */
  async walk(tree: string, prefix: string, out: TreeEntriesBuilder): Promise<void> {
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
        if (this.deferred) {
          this.deferred.add(out, out.add(path, "file", 0, 0, 0, 0, checksum, []), checksum);
          continue;
        }
        const meta = this.file(checksum, path);
        const row = out.add(path, meta.kind, meta.mode, meta.uid, meta.gid, meta.size, checksum, meta.xattrs);
        if (meta.target !== undefined) out.setTarget(row, meta.target);
      } else {
        const dir = dirs[d++];
        const path = prefix + dir.name;
        const meta = this.dirmeta(dir.meta, path);
        out.add(path, "directory", meta.mode, meta.uid, meta.gid, 0, dir.tree, meta.xattrs, dir.meta);
        // A call handed to another thread: let its answer in, so that the thread gets the next call.
        if (this.deferred?.sentSinceYield) await this.deferred.yield();
        await this.walk(dir.tree, path + "/", out);
      }
    }
    this.walking.delete(tree);
  }

  /** Fills in the rows whose content objects were read elsewhere. */
  async finish(out: TreeEntriesBuilder): Promise<void> {
    await this.deferred?.finish(this, out);
  }
}

/** Content objects at least this many: their metadata is read on other threads. */
const THREADED_OBJECTS = 16384;
/** Objects per call on another thread. */
const OBJECTS_PER_CALL = 2048;
const OBJECT_META_MODULE = new URL("./object_meta.ts", import.meta.url);

/**
 * The files of a tree whose content objects' metadata is read on other
 * threads, in batches sent while the walk goes on. Small trees (fewer than
 * {@linkcode THREADED_OBJECTS} objects) are read here at the end, as they
 * would have been during the walk.
 */
class DeferredFiles {
  private readonly objects: string[] = [];
  /** The first row of each object (its path is named in errors). */
  private readonly firstRows: number[] = [];
  /** 1 + the object of each checksum id of the builder (0: none yet). */
  private objectOf = new Int32Array(1024);
  private readonly calls: {
    first: number;
    count: number;
    metas: Promise<ObjectMetas | undefined>;
    takeBack: AbortController;
  }[] = [];
  private sent = 0;
  /** A call was sent since the walk last let other events in. */
  sentSinceYield = false;

  constructor(private readonly repo: OstreeRepo, private readonly threads: TreeReadThreads) {
    // An empty call: a worker starts and loads the module now, not when the first batch is ready.
    threads.call(OBJECT_META_MODULE, "readObjectMetas", [`${repo.path}/objects`, repo.mode, []]).catch(() => {});
  }

  /**
   * Lets the event loop run (the pool hands the next call to a thread when
   * the last one's answer comes in): a message to ourselves, which, unlike
   * a zero timeout, is not held back 4 ms when it is repeated.
   */
  async yield(): Promise<void> {
    this.sentSinceYield = false;
    const channel = new MessageChannel();
    await new Promise((resolve) => {
      channel.port1.onmessage = resolve;
      channel.port2.postMessage(null);
    });
    channel.port1.close();
  }

  /** A file's row, added with its checksum; its metadata comes in {@linkcode finish}. */
  add(out: TreeEntriesBuilder, row: number, checksum: string): void {
    const id = out.checksumIdOf(row);
    if (id >= this.objectOf.length) {
      const grown = new Int32Array(Math.max(id + 1, this.objectOf.length * 2));
      grown.set(this.objectOf);
      this.objectOf = grown;
    }
    if (this.objectOf[id] !== 0) return;
    this.objectOf[id] = this.objects.push(checksum);
    this.firstRows.push(row);
    if (this.objects.length >= THREADED_OBJECTS && this.objects.length - this.sent >= OBJECTS_PER_CALL) this.send();
  }

  private send(): void {
    const first = this.sent;
    const batch = this.objects.slice(first);
    this.sent = this.objects.length;
    const args = [`${this.repo.path}/objects`, this.repo.mode, batch];
    const takeBack = new AbortController();
    // A call taken back or failed (undefined) is read here.
    const metas = this.threads.call<ObjectMetas>(OBJECT_META_MODULE, "readObjectMetas", args, {
      signal: takeBack.signal,
    }).catch(() => undefined);
    this.calls.push({ first, count: batch.length, metas, takeBack });
    this.sentSinceYield = true;
  }

  async finish(reader: TreeReader, out: TreeEntriesBuilder): Promise<void> {
    // Each object's metadata, in columns (a million objects are not a million objects here).
    const n = this.objects.length;
    const modes = new Uint32Array(n);
    const uids = new Uint32Array(n);
    const gids = new Uint32Array(n);
    const sizes = new Float64Array(n);
    const targets = new Map<number, string>();
    const xattrs = new Map<number, Xattr[]>();
    const readHere = (object: number) => {
      const meta = reader.readObject(this.objects[object], out.pathOf(this.firstRows[object]));
      modes[object] = meta.mode;
      uids[object] = meta.uid;
      gids[object] = meta.gid;
      sizes[object] = meta.size;
      if (meta.target !== undefined) targets.set(object, meta.target);
      if (meta.xattrs.length > 0) xattrs.set(object, meta.xattrs);
    };
    // What was not sent is read here.
    for (let object = this.sent; object < n; object++) readHere(object);
    // From the last call back: one that no other thread has started is taken back and read here, while the others
    // work through the first ones.
    for (let c = this.calls.length - 1; c >= 0; c--) {
      const { first, count, metas: pending, takeBack } = this.calls[c];
      // Answers that came in meanwhile first: the pool hands their threads the next calls.
      await this.yield();
      takeBack.abort();
      const got = await pending;
      if (!got) {
        for (let object = first; object < first + count; object++) readHere(object);
        continue;
      }
      modes.set(got.modes, first);
      uids.set(got.uids, first);
      gids.set(got.gids, first);
      sizes.set(got.sizes, first);
      for (const [i, target] of got.targets) targets.set(first + i, target);
      for (const [i, list] of got.xattrs) xattrs.set(first + i, list);
      // What the other thread could not read is read again here: the error names the path.
      for (let i = 0; i < count; i++) if (got.failed[i]) readHere(first + i);
    }
    for (let row = 0; row < out.count; row++) {
      if (out.kindOf(row) === "directory") continue;
      const object = this.objectOf[out.checksumIdOf(row)] - 1;
      const mode = modes[object];
      // Read with the same checks as during a walk: a file or a symlink.
      const kind = (mode & S_IFMT) === S_IFLNK ? "symlink" : "file";
      out.setMeta(row, kind, mode, uids[object], gids[object], sizes[object], xattrs.get(object) ?? []);
      const target = targets.get(object);
      if (target !== undefined) out.setTarget(row, target);
    }
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
  const objects = new ObjectStatter(`${repo.path}/objects`);
  try {
    // First: with threads, a worker starts (and loads its module) while the commit is read.
    const reader = new TreeReader(repo, objects, options.signal, options.threads);
    const checksum = /^[0-9a-f]{64}$/.test(commit) ? commit : await repo.resolveCommit(commit, options);
    const info = await repo.readCommit(checksum, options);
    reader.dirmeta(info.rootMetadata, "");
    const out = new TreeEntriesBuilder();
    await reader.walk(info.rootContents, "", out);
    await reader.finish(out);
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
