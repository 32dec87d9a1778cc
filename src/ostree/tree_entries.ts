/**
 * A commit's tree in columns: one row per path, numbers in typed arrays,
 * checksums and xattr sets stored once however many paths share them. A
 * million-path tree takes about 40 bytes of heap (the path string) and 30
 * bytes of typed arrays a path this way, where an object per path took
 * ~150 bytes of heap (and a build of such a tree stayed above 256 MB).
 * Readers see rows as {@linkcode TreeEntry} objects made on demand, or
 * read single columns (`path`, `kind`, `size`, `checksum`) without making
 * one.
 *
 * @module
 */

import type { EntryKind } from "../tar/layer_tar.ts";
import type { Xattr } from "../util/xattr.ts";
import { comparePaths } from "../util/path_order.ts";

/** One path of a commit's tree, with the metadata the commit records. */
export interface TreeEntry {
  /** Path relative to the root, without a leading slash (never empty). */
  path: string;
  /** Path as stored in the commit (differs from `path` after remapping). */
  sourcePath: string;
  /** Entry kind. */
  kind: EntryKind;
  /** Permission bits including setuid, setgid and sticky (`0o7777` mask). */
  mode: number;
  /** Owner user id. */
  uid: number;
  /** Owner group id. */
  gid: number;
  /** Size in bytes of a regular file's content (0 otherwise). */
  size: number;
  /**
   * Content object checksum for files and symlinks (covers content and
   * metadata), dirtree checksum for directories (covers the whole subtree).
   */
  checksum: string;
  /** Dirmeta checksum (directories only). */
  metaChecksum?: string;
  /** Symlink target (symlinks only). */
  target?: string;
  /** Extended attributes, in the order the commit stores them. */
  xattrs: Xattr[];
}

const KINDS: readonly EntryKind[] = ["file", "directory", "symlink"];
const KIND_CODES: Record<EntryKind, number> = { file: 0, directory: 1, symlink: 2 };
const KIND_SHIFT = 12;
const MODE_MASK = 0o7777;
const NONE = 0xffffffff;

/**
 * The `xattrs` of every entry without extended attributes: one frozen
 * array shared by all. Callers replace an entry's `xattrs`, never change it.
 */
const NO_XATTRS: Xattr[] = Object.freeze([]) as unknown as Xattr[];

/** Rows per chunk of a column: columns grow a chunk at a time, never copied. */
const CHUNK_BITS = 16;
const CHUNK_ROWS = 1 << CHUNK_BITS;
const CHUNK_MASK = CHUNK_ROWS - 1;

/**
 * A column of numbers in fixed chunks. Growing an array by copying left
 * the old ones to the collector: ~100 MB of dead copies at once for a
 * million rows, the peak of the whole build.
 */
class Column {
  readonly chunks: (Uint16Array | Uint32Array | Float64Array)[] = [];
  constructor(private readonly make: (rows: number) => Uint16Array | Uint32Array | Float64Array) {}
  get(row: number): number {
    return this.chunks[row >>> CHUNK_BITS][row & CHUNK_MASK];
  }
  set(row: number, value: number): void {
    this.chunks[row >>> CHUNK_BITS][row & CHUNK_MASK] = value;
  }
  grow(): void {
    this.chunks.push(this.make(CHUNK_ROWS));
  }
}

/** The columns every view of one tree shares. */
class Columns {
  count = 0;
  paths: string[] = [];
  /** Set only once a path is remapped: the commit's own path of each row that moved. */
  sourcePaths?: Map<number, string>;
  readonly kindMode = new Column((n) => new Uint16Array(n));
  readonly uids = new Column((n) => new Uint32Array(n));
  readonly gids = new Column((n) => new Uint32Array(n));
  readonly sizes = new Column((n) => new Float64Array(n));
  readonly checksumIds = new Column((n) => new Uint32Array(n));
  readonly metaIds = new Column((n) => new Uint32Array(n));
  readonly xattrIds = new Column((n) => new Uint32Array(n));
  checksums: string[] = [];
  checksumIndex? = new Map<string, number>();
  /** Row 0 is the empty set. */
  xattrSets: Xattr[][] = [NO_XATTRS];
  xattrIndex? = new Map<Xattr[], number>([[NO_XATTRS, 0]]);
  targets = new Map<number, string>();

  /** Makes room for the next row. */
  addRow(): number {
    if ((this.count & CHUNK_MASK) === 0) {
      for (
        const column of [this.kindMode, this.uids, this.gids, this.sizes, this.checksumIds, this.metaIds, this.xattrIds]
      ) {
        column.grow();
      }
    }
    return this.count++;
  }

  checksumId(checksum: string): number {
    let id = this.checksumIndex!.get(checksum);
    if (id === undefined) {
      id = this.checksums.length;
      this.checksums.push(checksum);
      this.checksumIndex!.set(checksum, id);
    }
    return id;
  }

  xattrId(xattrs: Xattr[]): number {
    if (xattrs.length === 0) return 0;
    let id = this.xattrIndex?.get(xattrs);
    if (id === undefined) {
      id = this.xattrSets.length;
      // Rows share the set: frozen, so that nobody changes it for them all.
      this.xattrSets.push(Object.isFrozen(xattrs) ? xattrs : Object.freeze(xattrs) as Xattr[]);
      this.xattrIndex?.set(xattrs, id);
    }
    return id;
  }
}

/** Makes a view (the constructor is private: views come from a builder or `select`). */
let viewOf: (columns: Columns, rows?: Uint32Array) => TreeEntries;

/**
 * The entries of a commit's tree (or a selection of them, in a chosen
 * order), as {@linkcode readCommitTree} returns them.
 *
 * @example
 * ```ts
 * import { TreeEntries } from "./tree_entries.ts";
 * const file = { path: "etc/hostname", sourcePath: "etc/hostname", kind: "file" as const, mode: 0o644, uid: 0, gid: 0, size: 5, checksum: "c1", xattrs: [] };
 * const tree = TreeEntries.from([file]);
 * tree.length; // 1
 * tree.at(0).path; // "etc/hostname"
 * for (const entry of tree) console.log(entry.path, entry.size);
 * ```
 */
export class TreeEntries implements Iterable<TreeEntry> {
  readonly #columns: Columns;
  /** The rows of this view, in its order; undefined: every row, in row order. */
  readonly #rows?: Uint32Array;
  /** For {@linkcode indexOfSource}: whether the view is in source path order, or a map when it is not. */
  #bySource?: true | Map<string, number>;

  private constructor(columns: Columns, rows?: Uint32Array) {
    this.#columns = columns;
    this.#rows = rows;
  }

  static {
    viewOf = (columns, rows) => new TreeEntries(columns, rows);
  }

  /** Entries from objects (tests, small trees); each object is copied. */
  static from(entries: Iterable<TreeEntry>): TreeEntries {
    const builder = new TreeEntriesBuilder();
    for (const e of entries) {
      const row = builder.add(e.path, e.kind, e.mode, e.uid, e.gid, e.size, e.checksum, e.xattrs, e.metaChecksum);
      if (e.target !== undefined) builder.setTarget(row, e.target);
      if (e.sourcePath !== e.path) builder.setSourcePath(row, e.sourcePath);
    }
    return builder.finish();
  }

  /** Number of entries. */
  get length(): number {
    return this.#rows ? this.#rows.length : this.#columns.count;
  }

  #row(index: number): number {
    if (!(index >= 0 && index < this.length)) throw new RangeError(`No entry ${index} (${this.length} entries)`);
    return this.#rows ? this.#rows[index] : index;
  }

  /** The entry at `index`, as a fresh object (changing it changes nothing here). */
  at(index: number): TreeEntry {
    const c = this.#columns;
    const row = this.#row(index);
    const kindMode = c.kindMode.get(row);
    const kind = KINDS[kindMode >>> KIND_SHIFT];
    const path = c.paths[row];
    const entry: TreeEntry = {
      path,
      sourcePath: c.sourcePaths?.get(row) ?? path,
      kind,
      mode: kindMode & MODE_MASK,
      uid: c.uids.get(row),
      gid: c.gids.get(row),
      size: c.sizes.get(row),
      checksum: c.checksums[c.checksumIds.get(row)],
      xattrs: c.xattrSets[c.xattrIds.get(row)],
    };
    if (kind === "directory" && c.metaIds.get(row) !== NONE) entry.metaChecksum = c.checksums[c.metaIds.get(row)];
    if (kind === "symlink") entry.target = c.targets.get(row);
    return entry;
  }

  /** The image path of the entry at `index`. */
  path(index: number): string {
    return this.#columns.paths[this.#row(index)];
  }

  /** The path the commit stores the entry at `index` under. */
  sourcePath(index: number): string {
    const row = this.#row(index);
    return this.#columns.sourcePaths?.get(row) ?? this.#columns.paths[row];
  }

  /** The kind of the entry at `index`. */
  kind(index: number): EntryKind {
    return KINDS[this.#columns.kindMode.get(this.#row(index)) >>> KIND_SHIFT];
  }

  /** The content size of the entry at `index` (0 for all but files). */
  size(index: number): number {
    return this.#columns.sizes.get(this.#row(index));
  }

  /** The checksum of the entry at `index` (see {@linkcode TreeEntry.checksum}). */
  checksum(index: number): string {
    const c = this.#columns;
    return c.checksums[c.checksumIds.get(this.#row(index))];
  }

  /** The number of extended attributes of the entry at `index`. */
  xattrCount(index: number): number {
    const c = this.#columns;
    return c.xattrSets[c.xattrIds.get(this.#row(index))].length;
  }

  /** Gives the entry at `index` another path (the commit's own stays its `sourcePath`). */
  setPath(index: number, path: string): void {
    const c = this.#columns;
    const row = this.#row(index);
    if (c.paths[row] === path) return;
    c.sourcePaths ??= new Map();
    if (!c.sourcePaths.has(row)) c.sourcePaths.set(row, c.paths[row]);
    c.paths[row] = path;
  }

  /** Replaces the extended attributes of the entry at `index`. */
  setXattrs(index: number, xattrs: Xattr[]): void {
    const c = this.#columns;
    c.xattrIds.set(this.#row(index), c.xattrId(xattrs));
  }

  /** A view of the entries at `indexes` (positions in this view), in that order. */
  select(indexes: ArrayLike<number>): TreeEntries {
    const rows = new Uint32Array(indexes.length);
    for (let i = 0; i < rows.length; i++) rows[i] = this.#row(indexes[i]);
    return viewOf(this.#columns, rows);
  }

  /**
   * The index of the entry the commit stores at `sourcePath`, or -1: a
   * binary search when the entries are in path order (a commit's walk is),
   * else a map made on the first call.
   */
  indexOfSource(sourcePath: string): number {
    if (this.#bySource === undefined) {
      this.#bySource = true;
      for (let i = 1; i < this.length; i++) {
        if (comparePaths(this.sourcePath(i - 1), this.sourcePath(i)) >= 0) {
          this.#bySource = new Map();
          for (let j = 0; j < this.length; j++) this.#bySource.set(this.sourcePath(j), j);
          break;
        }
      }
    }
    if (this.#bySource !== true) return this.#bySource.get(sourcePath) ?? -1;
    let low = 0;
    let high = this.length - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const order = comparePaths(this.sourcePath(mid), sourcePath);
      if (order === 0) return mid;
      if (order < 0) low = mid + 1;
      else high = mid - 1;
    }
    return -1;
  }

  /**
   * The entries in image path order ({@linkcode comparePaths}): this view
   * when it is already (one pass, as a commit's walk is), else a sorted view.
   */
  sortedByPath(): TreeEntries {
    for (let i = 1; i < this.length; i++) {
      if (comparePaths(this.path(i - 1), this.path(i)) >= 0) {
        const order = Array.from({ length: this.length }, (_, j) => j);
        return this.select(order.sort((a, b) => comparePaths(this.path(a), this.path(b))));
      }
    }
    return this;
  }

  /** The entries, each a fresh object. */
  *[Symbol.iterator](): Iterator<TreeEntry> {
    for (let i = 0; i < this.length; i++) yield this.at(i);
  }

  /** The entries that pass `predicate`, as objects. */
  filter(predicate: (entry: TreeEntry, index: number) => boolean): TreeEntry[] {
    const out: TreeEntry[] = [];
    for (let i = 0; i < this.length; i++) {
      const entry = this.at(i);
      if (predicate(entry, i)) out.push(entry);
    }
    return out;
  }

  /** The first entry that passes `predicate`. */
  find(predicate: (entry: TreeEntry, index: number) => boolean): TreeEntry | undefined {
    for (let i = 0; i < this.length; i++) {
      const entry = this.at(i);
      if (predicate(entry, i)) return entry;
    }
    return undefined;
  }

  /** Whether an entry passes `predicate`. */
  some(predicate: (entry: TreeEntry, index: number) => boolean): boolean {
    return this.find(predicate) !== undefined;
  }

  /** Maps every entry. */
  map<T>(mapping: (entry: TreeEntry, index: number) => T): T[] {
    const out: T[] = new Array(this.length);
    for (let i = 0; i < this.length; i++) out[i] = mapping(this.at(i), i);
    return out;
  }
}

/**
 * Collects the rows of a {@linkcode TreeEntries}, in the order they are
 * added (the tree reader's).
 */
export class TreeEntriesBuilder {
  readonly #columns = new Columns();

  /** Adds a row; returns its index. `metaChecksum`: a directory's dirmeta. */
  add(
    path: string,
    kind: EntryKind,
    mode: number,
    uid: number,
    gid: number,
    size: number,
    checksum: string,
    xattrs: Xattr[],
    metaChecksum?: string,
  ): number {
    const c = this.#columns;
    const row = c.addRow();
    c.paths.push(path);
    c.kindMode.set(row, (KIND_CODES[kind] << KIND_SHIFT) | (mode & MODE_MASK));
    c.uids.set(row, uid);
    c.gids.set(row, gid);
    c.sizes.set(row, size);
    c.checksumIds.set(row, c.checksumId(checksum));
    c.metaIds.set(row, metaChecksum === undefined ? NONE : c.checksumId(metaChecksum));
    c.xattrIds.set(row, c.xattrId(xattrs));
    return row;
  }

  /** Rows added so far. */
  get count(): number {
    return this.#columns.count;
  }

  /** The path of a row. */
  pathOf(row: number): string {
    return this.#columns.paths[row];
  }

  /** The kind of a row. */
  kindOf(row: number): EntryKind {
    return KINDS[this.#columns.kindMode.get(row) >>> KIND_SHIFT];
  }

  /** The number every row with the same checksum shares (0, 1, 2… in order of first use). */
  checksumIdOf(row: number): number {
    return this.#columns.checksumIds.get(row);
  }

  /** Sets the metadata of a row added before it was known. */
  setMeta(row: number, kind: EntryKind, mode: number, uid: number, gid: number, size: number, xattrs: Xattr[]): void {
    const c = this.#columns;
    c.kindMode.set(row, (KIND_CODES[kind] << KIND_SHIFT) | (mode & MODE_MASK));
    c.uids.set(row, uid);
    c.gids.set(row, gid);
    c.sizes.set(row, size);
    c.xattrIds.set(row, c.xattrId(xattrs));
  }

  /** Records a symlink's target. */
  setTarget(row: number, target: string): void {
    this.#columns.targets.set(row, target);
  }

  /** Records the commit's path of a row whose path was mapped. */
  setSourcePath(row: number, sourcePath: string): void {
    (this.#columns.sourcePaths ??= new Map()).set(row, sourcePath);
  }

  /** The entries added (the builder is spent). */
  finish(): TreeEntries {
    // The indexes are for de-duplicating while reading; later xattr sets (from remapping) are few.
    this.#columns.checksumIndex = undefined;
    this.#columns.xattrIndex = undefined;
    return viewOf(this.#columns);
  }
}
