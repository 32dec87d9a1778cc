/**
 * The ostree-native container format (ostree-ext's "v1" encoding, what
 * bootc, rpm-ostree and `ostree container` read): the commit's own objects
 * inside the image, so that a host that pulls the image gets the very same
 * commit (same checksum, same detached signatures) and can deploy it.
 *
 * Layer 0 holds the commit, its detached metadata, every dirtree and
 * dirmeta object and the tree's directories, under a `bare-split-xattrs`
 * repository skeleton at `sysroot/ostree/repo`. Each chunk layer repeats the
 * skeleton and holds content objects, sorted by checksum, each in exactly
 * one layer: `<csum>.file-xattrs-link` (the object's xattrs as GVariant),
 * `<csum>.file` (the content, with the commit's mode and owner) and, at every
 * path of the tree with that content, a hardlink to it. Chunk layers also
 * carry the parent directories of their paths (ostree-ext's "format
 * version 2"), so that each unpacks on its own.
 *
 * Two choices differ from ostree-ext and do not change what an importer
 * sees (importers read only `sysroot/ostree/repo/objects`): paths under
 * `etc/` and `var/` and empty files are written as copies rather than
 * hardlinks to the object (a container that edits `/etc/hosts` must not
 * change the repository object, the rule every other layer of ours keeps),
 * and symlinks are written as symlinks rather than hardlinks to the
 * symlink object.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Compression } from "../compress/compression.ts";
import { DEFAULT_LEVELS } from "../compress/compression.ts";
import type { ContentSource } from "../ostree/content.ts";
import { AptOstreeError } from "../errors.ts";
import { parseDirMeta, serializeXattrs } from "../ostree/objects.ts";
import type { CommitInfo, OstreeRepo } from "../ostree/repo.ts";
import type { TreeEntries, TreeEntry } from "../ostree/tree.ts";
import type { FileContent, LayerEntry } from "../tar/layer_tar.ts";
import { bytesContent, mayHardlink } from "../tar/layer_tar.ts";
import { comparePaths } from "../util/path_order.ts";

/** Where the repository lives inside the image. */
export const IMAGE_REPO_PATH = "sysroot/ostree/repo";

/** The repository config every ostree-native layer carries. */
export const IMAGE_REPO_CONFIG = "[core]\nrepo_version=1\nmode=bare-split-xattrs\n";

/** Labels (and manifest annotations) of the format. */
export const BOOTC_LABELS = {
  commit: "ostree.commit",
  finalDiffId: "ostree.final-diffid",
  bootc: "containers.bootc",
  bootable: "ostree.bootable",
  linux: "ostree.linux",
  components: "ostree.components",
} as const;

/** The id of layer 0. */
export const COMMIT_LAYER_ID = "ostree-commit";

/** Version of our encoding of the format; part of every chunk layer's key. */
const BOOTC_LAYER_VERSION = 1;

/** Xattrs that never go into a tar header (the host relabels); they stay in `.file-xattrs-link`. */
const HEADER_EXCLUDED_XATTRS = new Set(["security.selinux"]);

/** A tar entry of an ostree-native layer: in-memory bytes or a tree entry's content. */
export interface BootcEntry extends LayerEntry {
  /** Content held in memory (metadata objects, xattrs, the config). */
  data?: Uint8Array;
  /** The tree entry whose content object this entry's content is. */
  source?: TreeEntry;
}

/** One layer of an ostree-native image, its entries produced when written. */
export interface BootcLayer {
  /** `ostree-commit` for layer 0, else the planned bin (`base`, `unit:<package>`, `bin:<k>`, `new`). */
  id: string;
  /** Units (packages) whose content the layer holds, sorted. */
  units: string[];
  /** Identity of the layer's bytes before compression, for reuse (undefined: never reused). */
  key?: string;
  /** Bytes of file content the layer writes. */
  contentBytes: number;
  /** Tar entries the layer writes. */
  entryCount: number;
  /** The entries, in tar order (each call starts again). */
  entries(): Iterable<BootcEntry>;
}

/**
 * A path of the tree, as a number: its chunk times 2^24 plus its index in
 * the chunk's entries (a million-path tree is not a million objects here).
 */
type PathRef = number;

const CHUNK_FACTOR = 2 ** 24;

/** A content object and every tree path that has it. */
interface ContentObject {
  checksum: string;
  /** The first path in image order (its metadata is the object's). */
  first: PathRef;
  /** Every path, in image order: one number for the many objects with one path. */
  paths: PathRef | PathRef[];
}

/** A planned chunk: its bin and the tree entries that decide what it holds. */
export interface BootcChunkPlan {
  /** Bin id. */
  id: string;
  /** Units, sorted. */
  units: string[];
  /** Tree entries (image paths); directories are ignored. */
  entries: TreeEntries;
}

/** What {@linkcode planOstreeContainer} needs. */
export interface OstreeContainerInput {
  /** The repository the commit is in. */
  repo: OstreeRepo;
  /** The commit checksum. */
  commit: string;
  /** The decoded commit. */
  info: CommitInfo;
  /** Every directory of the tree, in the commit's walk order (parents first, names sorted), paths mapped to the image. */
  directories: readonly TreeEntry[];
  /** The chunks (package-aware bins): every file of the tree is in one of them. */
  chunks: readonly BootcChunkPlan[];
  /** One layer only: the objects go into layer 0, after the metadata. */
  single?: boolean;
  /** Layer compression and level (they are part of each layer's key). */
  compression: Compression;
  /** Compression level (default: the compression's). */
  level?: number;
}

function objectPath(checksum: string, suffix: string): string {
  return `${IMAGE_REPO_PATH}/objects/${checksum.slice(0, 2)}/${checksum.slice(2)}.${suffix}`;
}

function dirEntry(path: string, mode = 0o755): BootcEntry {
  return { path, kind: "directory", mode, uid: 0, gid: 0, size: 0, xattrs: [], checksum: "" };
}

function dataEntry(path: string, data: Uint8Array, mode = 0o644): BootcEntry {
  return { path, kind: "file", mode, uid: 0, gid: 0, size: data.length, xattrs: [], checksum: "", data };
}

function headerXattrs(xattrs: TreeEntry["xattrs"]): TreeEntry["xattrs"] {
  return xattrs.some((x) => HEADER_EXCLUDED_XATTRS.has(x.name))
    ? xattrs.filter((x) => !HEADER_EXCLUDED_XATTRS.has(x.name))
    : xattrs;
}

const HEX2 = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** The repository skeleton and config, all 0755 root, as every layer starts. */
function* skeleton(): Generator<BootcEntry> {
  yield dirEntry("sysroot");
  yield dirEntry("sysroot/ostree");
  yield dirEntry(IMAGE_REPO_PATH);
  yield dirEntry(`${IMAGE_REPO_PATH}/objects`);
  for (const xx of HEX2) yield dirEntry(`${IMAGE_REPO_PATH}/objects/${xx}`);
  for (const dir of ["extensions", "refs", "refs/heads", "refs/mirrors", "refs/remotes", "state", "tmp", "tmp/cache"]) {
    yield dirEntry(`${IMAGE_REPO_PATH}/${dir}`);
  }
  yield dataEntry(`${IMAGE_REPO_PATH}/config`, new TextEncoder().encode(IMAGE_REPO_CONFIG));
}
const SKELETON_ENTRIES = [...skeleton()].length;

/** Reads the paths of content objects from the chunks' entries. */
class PathReader {
  constructor(private readonly chunks: readonly BootcChunkPlan[]) {}

  ref(chunk: number, index: number): PathRef {
    return chunk * CHUNK_FACTOR + index;
  }

  private tree(ref: PathRef): TreeEntries {
    return this.chunks[Math.floor(ref / CHUNK_FACTOR)].entries;
  }

  entry(ref: PathRef): TreeEntry {
    return this.tree(ref).at(ref % CHUNK_FACTOR);
  }

  path(ref: PathRef): string {
    return this.tree(ref).path(ref % CHUNK_FACTOR);
  }

  kind(ref: PathRef): TreeEntry["kind"] {
    return this.tree(ref).kind(ref % CHUNK_FACTOR);
  }

  size(ref: PathRef): number {
    return this.tree(ref).size(ref % CHUNK_FACTOR);
  }

  chunkOf(ref: PathRef): number {
    return Math.floor(ref / CHUNK_FACTOR);
  }
}

function pathsOf(object: ContentObject): PathRef[] {
  return typeof object.paths === "number" ? [object.paths] : object.paths;
}

/** The entries of one content object: xattrs, the object, then each path. */
function* objectEntries(object: ContentObject, paths: PathReader): Generator<BootcEntry> {
  const first = paths.entry(object.first);
  yield dataEntry(objectPath(object.checksum, "file-xattrs-link"), serializeXattrs(first.xattrs));
  const file = objectPath(object.checksum, "file");
  yield {
    path: file,
    kind: first.kind,
    mode: first.mode,
    uid: first.uid,
    gid: first.gid,
    size: first.kind === "file" ? first.size : 0,
    target: first.target,
    xattrs: headerXattrs(first.xattrs),
    checksum: object.checksum,
    source: first,
  };
  for (const ref of pathsOf(object)) {
    const path = ref === object.first ? first : paths.entry(ref);
    if (path.kind === "file" && mayHardlink(path.path, path.size)) {
      yield { ...path, xattrs: [], size: 0, hardlinkTo: file };
    } else {
      yield { ...path, xattrs: headerXattrs(path.xattrs), source: path };
    }
  }
}

function objectEntryCount(object: ContentObject): number {
  return 2 + (typeof object.paths === "number" ? 1 : object.paths.length);
}

function objectCopyBytes(object: ContentObject, paths: PathReader): number {
  let bytes = paths.size(object.first);
  for (const ref of pathsOf(object)) {
    const size = paths.size(ref);
    if (paths.kind(ref) === "file" && !mayHardlink(paths.path(ref), size)) bytes += size;
  }
  return bytes;
}

function byChecksum(a: ContentObject, b: ContentObject): number {
  return a.checksum < b.checksum ? -1 : a.checksum > b.checksum ? 1 : 0;
}

type MetadataKind = "commit" | "commitmeta" | "dirtree" | "dirmeta";

function repoObjectPath(repo: OstreeRepo, checksum: string, kind: MetadataKind): string {
  return `${repo.path}/objects/${checksum.slice(0, 2)}/${checksum.slice(2)}.${kind}`;
}

/** A metadata object's bytes, as the repository keeps them (the same in every mode). */
function readObject(repo: OstreeRepo, checksum: string, kind: MetadataKind): Uint8Array {
  const path = repoObjectPath(repo, checksum, kind);
  try {
    return readFileSync(path);
  } catch (error) {
    throw new AptOstreeError(`Cannot read the ${kind} object ${path}: ${(error as Error).message}`, {
      solution: `Check the repository with: ostree fsck --repo=${repo.path}`,
      cause: error,
    });
  }
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "" : path.slice(0, slash);
}

/**
 * Plans the layers of an ostree-native image of a commit: layer 0 with the
 * commit and its metadata objects, then one layer per chunk with its
 * content objects (or, with `single`, everything in layer 0).
 *
 * @example
 * ```ts
 * import { planOstreeContainer } from "./layers.ts";
 * import { OstreeRepo } from "../ostree/repo.ts";
 * const repo = await OstreeRepo.open("repo");
 * const commit = await repo.resolveCommit("main");
 * const tree = await repo.readTree(commit);
 * const layers = planOstreeContainer({
 *   repo,
 *   commit,
 *   info: await repo.readCommit(commit),
 *   directories: tree.filter((e) => e.kind === "directory"),
 *   chunks: [{ id: "base", units: [], entries: tree }],
 *   compression: "gzip",
 * });
 * layers.map((l) => l.id); // ["ostree-commit", "base"]
 * ```
 */
export function planOstreeContainer(input: OstreeContainerInput): BootcLayer[] {
  const { repo, commit, info, directories } = input;

  // Every content object and its paths; each object goes to the chunk of its first path (in image order).
  const paths = new PathReader(input.chunks);
  const objects = new Map<string, ContentObject>();
  input.chunks.forEach((chunk, c) => {
    const entries = chunk.entries;
    for (let i = 0; i < entries.length; i++) {
      if (entries.kind(i) === "directory") continue;
      const checksum = entries.checksum(i);
      const ref = paths.ref(c, i);
      const object = objects.get(checksum);
      if (!object) {
        objects.set(checksum, { checksum, first: ref, paths: ref });
        continue;
      }
      if (typeof object.paths === "number") object.paths = [object.paths];
      object.paths.push(ref);
      if (comparePaths(entries.path(i), paths.path(object.first)) < 0) object.first = ref;
    }
  });
  const chunkObjects: ContentObject[][] = input.chunks.map(() => []);
  for (const object of objects.values()) {
    if (typeof object.paths !== "number") object.paths.sort((a, b) => comparePaths(paths.path(a), paths.path(b)));
    chunkObjects[paths.chunkOf(object.first)].push(object);
  }
  for (const list of chunkObjects) list.sort(byChecksum);

  const dirByPath = new Map<string, TreeEntry>();
  for (const d of directories) dirByPath.set(d.path, d);

  // Layer 0: the commit, its metadata objects and the directories.
  const metadataObject = (checksum: string, kind: MetadataKind) =>
    dataEntry(objectPath(checksum, kind), readObject(repo, checksum, kind));
  let commitMeta = false;
  try {
    commitMeta = Deno.statSync(repoObjectPath(repo, commit, "commitmeta")).isFile;
  } catch {
    // no detached metadata (signatures)
  }
  const hasVarTmp = dirByPath.has("var/tmp");
  const hasVar = dirByPath.has("var");
  // A single layer: every object goes into layer 0, after the metadata.
  const inline = input.single ? chunkObjects.flat().sort(byChecksum) : [];
  const root = parseDirMeta(readObject(repo, info.rootMetadata, "dirmeta"));
  const commitLayer: BootcLayer = {
    id: COMMIT_LAYER_ID,
    units: [],
    contentBytes: inline.reduce((n, o) => n + objectCopyBytes(o, paths), 0),
    entryCount: 1 + SKELETON_ENTRIES + (commitMeta ? 4 : 3) + 2 * directories.length +
      (hasVarTmp ? 0 : hasVar ? 1 : 2) +
      inline.reduce((n, o) => n + objectEntryCount(o), 0),
    *entries() {
      yield {
        path: ".",
        kind: "directory",
        mode: root.mode & 0o7777,
        uid: root.uid,
        gid: root.gid,
        size: 0,
        xattrs: headerXattrs(root.xattrs),
        checksum: "",
      };
      yield* skeleton();
      yield metadataObject(commit, "commit");
      if (commitMeta) yield metadataObject(commit, "commitmeta");
      const seenMeta = new Set<string>([info.rootMetadata]);
      const seenTree = new Set<string>([info.rootContents]);
      yield metadataObject(info.rootMetadata, "dirmeta");
      yield metadataObject(info.rootContents, "dirtree");
      for (const dir of directories) {
        if (!seenMeta.has(dir.metaChecksum!)) {
          seenMeta.add(dir.metaChecksum!);
          yield metadataObject(dir.metaChecksum!, "dirmeta");
        }
        // The image's own skeleton stands for the tree's /sysroot.
        if (dir.path !== "sysroot") yield { ...dir, xattrs: headerXattrs(dir.xattrs) };
        if (!seenTree.has(dir.checksum)) {
          seenTree.add(dir.checksum);
          yield metadataObject(dir.checksum, "dirtree");
        }
      }
      if (!hasVar) yield dirEntry("var");
      if (!hasVarTmp) yield dirEntry("var/tmp", 0o1777);
      for (const object of inline) yield* objectEntries(object, paths);
    },
  };
  if (input.single) return [commitLayer];

  const level = input.level ?? DEFAULT_LEVELS[input.compression];
  // A bin that holds only directories has no objects: no layer for it (it would be the bare skeleton, the same bytes as
  // any other such layer).
  const chunks = input.chunks.map((chunk, i) => ({ chunk, list: chunkObjects[i] })).filter((c) => c.list.length > 0);
  const chunkLayers = chunks.map(({ chunk, list }): BootcLayer => {
    // Parent directories of every path, with the commit's metadata.
    const parents = new Set<string>();
    for (const object of list) {
      for (const ref of pathsOf(object)) {
        for (let d = parentOf(paths.path(ref)); d !== "" && !parents.has(d); d = parentOf(d)) parents.add(d);
      }
    }
    const dirs = [...parents].filter((d) => d !== "sysroot" && !d.startsWith("sysroot/")).sort(comparePaths)
      .map((d) => dirByPath.get(d)).filter((d): d is TreeEntry => d !== undefined);
    const hash = createHash("sha256");
    hash.update(`apt-ostree bootc layer v${BOOTC_LAYER_VERSION} ${input.compression} ${level}\n`);
    for (const d of dirs) hash.update(`d ${d.metaChecksum} ${d.path}\n`);
    for (const object of list) {
      hash.update(`o ${object.checksum}\n`);
      for (const ref of pathsOf(object)) hash.update(`p ${paths.kind(ref)} ${paths.path(ref)}\n`);
    }
    return {
      id: chunk.id,
      units: chunk.units,
      key: `sha256:${hash.digest("hex")}`,
      contentBytes: list.reduce((n, o) => n + objectCopyBytes(o, paths), 0),
      entryCount: SKELETON_ENTRIES + dirs.length + list.reduce((n, o) => n + objectEntryCount(o), 0),
      *entries() {
        yield* skeleton();
        for (const d of dirs) yield { ...d, xattrs: headerXattrs(d.xattrs) };
        for (const object of list) yield* objectEntries(object, paths);
      },
    };
  });
  return [commitLayer, ...chunkLayers];
}

/**
 * Opens the content of an ostree-native layer's entries: in-memory bytes,
 * or the tree entry's content object.
 *
 * @example
 * ```ts
 * import { bootcContent } from "./layers.ts";
 * import { contentSourceFor } from "../ostree/content.ts";
 * import { OstreeRepo } from "../ostree/repo.ts";
 * const content = bootcContent(contentSourceFor(await OstreeRepo.open("repo")));
 * ```
 */
export function bootcContent(content: ContentSource): { open(entry: BootcEntry): FileContent } {
  return {
    open(entry) {
      // Only entries with content are opened: in-memory bytes, or a tree entry's object (objects and copies).
      if (entry.data) return bytesContent(entry.data);
      return content.open(entry.source!);
    },
  };
}

/**
 * The kernel versions of a tree: every `usr/lib/modules/<kver>/vmlinuz`.
 *
 * @example
 * ```ts
 * import { treeKernels } from "./layers.ts";
 * treeKernels([{ path: "usr/lib/modules/6.1.0-13-amd64/vmlinuz", kind: "file" }]); // ["6.1.0-13-amd64"]
 * ```
 */
export function treeKernels(entries: Iterable<Pick<TreeEntry, "path" | "kind">>): string[] {
  const kernels: string[] = [];
  for (const e of entries) {
    const m = /^usr\/lib\/modules\/([^/]+)\/vmlinuz$/.exec(e.path);
    if (m && e.kind === "file") kernels.push(m[1]);
  }
  return kernels.sort();
}
