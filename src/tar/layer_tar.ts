/**
 * Streams a tree as an uncompressed tar layer: entries in the order given,
 * file contents read straight into ~1 MiB batches (no file is ever held
 * whole), hardlinks for files that share a content object.
 *
 * @module
 */

import { AptOstreeError } from "../errors.ts";
import type { Xattr } from "../util/xattr.ts";
import type { BufferPool } from "../util/buffer_pool.ts";
import { BLOCK_SIZE, encodeTarHeader, paddingFor, type TarHeader, writeTarHeader } from "./tar_header.ts";

/** Kinds of entries a layer holds. */
export type EntryKind = "file" | "directory" | "symlink";

/** An open file's content, as the tar writer reads it. `read` is synchronous where it can be. */
export interface FileContent {
  /** Fills `into` from the start; returns the bytes read, 0 at the end. */
  read(into: Uint8Array): number | Promise<number>;
  /** Releases the file. */
  close(): void;
}

/**
 * The content of bytes held in memory.
 *
 * @example
 * ```ts
 * import { bytesContent } from "./layer_tar.ts";
 * const content = bytesContent(new TextEncoder().encode("hello\n"));
 * content.read(new Uint8Array(16)); // 6
 * ```
 */
export function bytesContent(bytes: Uint8Array): FileContent {
  let offset = 0;
  return {
    read(into) {
      const n = Math.min(into.length, bytes.length - offset);
      into.set(bytes.subarray(offset, offset + n));
      offset += n;
      return n;
    },
    close() {},
  };
}

/** What the tar writer needs to know of an entry. */
export interface LayerEntry {
  /** Path in the layer (relative, no leading slash). */
  path: string;
  /** Entry kind. */
  kind: EntryKind;
  /** Permission bits including setuid/setgid/sticky. */
  mode: number;
  /** Owner user id. */
  uid: number;
  /** Owner group id. */
  gid: number;
  /** Content size of a regular file. */
  size: number;
  /** Symlink target. */
  target?: string;
  /** Extended attributes to record. */
  xattrs: Xattr[];
  /**
   * Identity of a file's content and metadata (the ostree content checksum).
   * Files with equal keys in one layer become hardlinks to the first one
   * (unless {@linkcode LayerTarOptions.linkEqualContent} is false).
   */
  checksum: string;
  /** Write a hardlink to this earlier path of the layer instead of the file's content. */
  hardlinkTo?: string;
}

/** Counters the writer advances as it goes (read them for progress). */
export interface TarStats {
  /** Entries written. */
  entries: number;
  /** Regular-file content bytes written. */
  contentBytes: number;
  /** Tar bytes produced. */
  tarBytes: number;
}

/** Options for {@linkcode createLayerTarStream}. */
export interface LayerTarOptions {
  /** Stops the stream with the signal's reason. */
  signal?: AbortSignal;
  /** Counters to advance. */
  stats?: TarStats;
  /** Size of the chunks the stream emits (default 1 MiB). */
  batchSize?: number;
  /** Where batch buffers come from (its size wins over `batchSize`). */
  bufferPool?: BufferPool;
  /** Link files with equal checksums (default true); false writes only the links entries ask for. */
  linkEqualContent?: boolean;
}

/** A fresh set of zeroed counters. */
export function newTarStats(): TarStats {
  return { entries: 0, contentBytes: 0, tarBytes: 0 };
}

/**
 * Creates a stream of the tar bytes of `entries`. The caller gives entries
 * sorted, parents first; `open` returns a regular file's content.
 *
 * @example
 * ```ts
 * import { createLayerTarStream } from "./layer_tar.ts";
 * const entries = [{ path: "etc", kind: "directory" as const, mode: 0o755, uid: 0, gid: 0, size: 0, xattrs: [], checksum: "d" }];
 * const tar = createLayerTarStream(entries, () => { throw new Error("no files"); });
 * const bytes = new Uint8Array(await new Response(tar).arrayBuffer()); // 512 + 1024 bytes
 * ```
 */
export function createLayerTarStream<E extends LayerEntry>(
  entries: Iterable<E>,
  open: (entry: E) => FileContent,
  options: LayerTarOptions = {},
): ReadableStream<Uint8Array> {
  return ReadableStream.from(tarBatches(entries, open, options));
}

/**
 * The batch being filled. Every batch handed out is filled to the brim
 * (headers and content may span batches) except the last, so that a
 * consumer working in blocks of `size` bytes can take batches as they are.
 */
class Batch {
  buf: Uint8Array;
  pos = 0;
  constructor(readonly size: number, private readonly stats: TarStats, private readonly pool?: BufferPool) {
    this.buf = pool ? pool.take() : new Uint8Array(size);
  }
  get full(): boolean {
    return this.pos === this.buf.length;
  }
  /** Returns the filled part and starts a new, zeroed buffer. */
  rotate(): Uint8Array {
    const filled = this.pos === this.buf.length ? this.buf : this.buf.subarray(0, this.pos);
    this.stats.tarBytes += this.pos;
    this.buf = this.pool ? this.pool.take() : new Uint8Array(this.size);
    this.pos = 0;
    return filled;
  }
  /** Returns the filled part of the last batch. */
  finish(): Uint8Array {
    this.stats.tarBytes += this.pos;
    return this.buf.subarray(0, this.pos);
  }
}

/** Copies `bytes` into the batch, handing out batches as they fill. */
function* put(batch: Batch, bytes: Uint8Array): Generator<Uint8Array> {
  let offset = 0;
  while (offset < bytes.length) {
    if (batch.full) yield batch.rotate();
    const n = Math.min(bytes.length - offset, batch.buf.length - batch.pos);
    batch.buf.set(bytes.subarray(offset, offset + n), batch.pos);
    batch.pos += n;
    offset += n;
  }
}

/**
 * Advances over `count` zero bytes (padding, end marker): a batch buffer
 * starts zero-filled, so skipping writes the zeroes.
 */
function* zeros(batch: Batch, count: number): Generator<Uint8Array> {
  while (count > 0) {
    if (batch.full) yield batch.rotate();
    const step = Math.min(count, batch.buf.length - batch.pos);
    batch.pos += step;
    count -= step;
  }
}

/**
 * Whether a file may be written as a hardlink to an earlier file with the
 * same content: only where a deployed system shares the inode too. Never
 * an empty file (ostree copies those: they are lock files, logs and
 * configuration that get written in place), and never a path under `etc/`
 * or `var/` (the writable parts of a system, copied out of the commit on
 * deploy): an in-place edit of one must not change the other. Equal
 * content elsewhere (`usr/`) stays linked, as in a deployment.
 *
 * @example
 * ```ts
 * import { mayHardlink } from "./layer_tar.ts";
 * mayHardlink("usr/bin/gunzip", 2346); // true
 * mayHardlink("etc/subuid", 0); // false
 * ```
 */
export function mayHardlink(path: string, size: number): boolean {
  return size > 0 && !path.startsWith("etc/") && !path.startsWith("var/");
}

async function* tarBatches<E extends LayerEntry>(
  entries: Iterable<E>,
  open: (entry: E) => FileContent,
  options: LayerTarOptions,
): AsyncGenerator<Uint8Array> {
  const stats = options.stats ?? newTarStats();
  const signal = options.signal;
  const batch = new Batch(options.bufferPool?.size ?? options.batchSize ?? 1 << 20, stats, options.bufferPool);
  const firstPathOf = new Map<string, string>();
  const linkEqual = options.linkEqualContent !== false;

  for (const entry of entries) {
    signal?.throwIfAborted();
    let type: "file" | "directory" | "symlink" | "hardlink" = entry.kind;
    let linkTarget = entry.target;
    if (entry.hardlinkTo !== undefined) {
      type = "hardlink";
      linkTarget = entry.hardlinkTo;
    } else if (linkEqual && entry.kind === "file" && mayHardlink(entry.path, entry.size)) {
      const first = firstPathOf.get(entry.checksum);
      if (first !== undefined) {
        type = "hardlink";
        linkTarget = first;
      } else {
        firstPathOf.set(entry.checksum, entry.path);
      }
    }
    const fields: TarHeader = {
      path: entry.path,
      type,
      mode: entry.mode,
      uid: entry.uid,
      gid: entry.gid,
      size: type === "file" ? entry.size : 0,
      linkTarget,
      xattrs: entry.xattrs,
    };
    // Most headers are written where they go; the others (PAX records, the end of a batch) are made, then copied.
    const written = writeTarHeader(fields, batch.buf, batch.pos);
    if (written > 0) {
      batch.pos += written;
    } else {
      const header = encodeTarHeader(fields);
      if (batch.pos + header.length <= batch.buf.length) {
        batch.buf.set(header, batch.pos);
        batch.pos += header.length;
      } else {
        yield* put(batch, header);
      }
    }

    if (type === "file" && entry.size > 0) {
      const content = open(entry);
      try {
        let remaining = entry.size;
        while (remaining > 0) {
          if (batch.full) {
            yield batch.rotate();
            signal?.throwIfAborted();
          }
          const space = Math.min(batch.buf.length - batch.pos, remaining);
          let n = content.read(batch.buf.subarray(batch.pos, batch.pos + space));
          if (typeof n !== "number") n = await n;
          if (n === 0) {
            throw new AptOstreeError(
              `Content of ${entry.path} is shorter than the commit records (${entry.size} bytes)`,
              { solution: "Check the repository with: ostree fsck" },
            );
          }
          batch.pos += n;
          remaining -= n;
          stats.contentBytes += n;
        }
      } finally {
        content.close();
      }
      const padding = paddingFor(entry.size);
      if (batch.pos + padding <= batch.buf.length) batch.pos += padding;
      else yield* zeros(batch, padding);
    }
    stats.entries++;
  }
  yield* zeros(batch, 2 * BLOCK_SIZE);
  yield batch.finish();
}
