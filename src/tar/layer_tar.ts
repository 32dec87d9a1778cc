/**
 * Streams a tree as an uncompressed tar layer: entries in the order given,
 * file contents read straight into ~1 MiB batches (no file is ever held
 * whole), hardlinks for files that share a content object.
 *
 * @module
 */

import { AptOstreeError } from "../errors.ts";
import type { FileContent } from "../ostree/content.ts";
import type { EntryKind, Xattr } from "../ostree/tree.ts";
import { BLOCK_SIZE, encodeTarHeader, paddingFor } from "./tar_header.ts";

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
   * Files with equal keys in one layer become hardlinks to the first one.
   */
  checksum: string;
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
  /** Target size of the chunks the stream emits (default 1 MiB). */
  batchSize?: number;
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

/** The batch being filled; a full one is handed out and replaced. */
class Batch {
  buf: Uint8Array;
  pos = 0;
  constructor(readonly size: number, private readonly stats: TarStats) {
    this.buf = new Uint8Array(size);
  }
  get full(): boolean {
    return this.pos === this.buf.length;
  }
  /** Returns the filled part and starts a new, zeroed buffer. */
  rotate(minSize = 0): Uint8Array {
    const filled = this.buf.subarray(0, this.pos);
    this.stats.tarBytes += this.pos;
    this.buf = new Uint8Array(Math.max(this.size, minSize));
    this.pos = 0;
    return filled;
  }
}

/**
 * Advances over `count` zero bytes (padding, end marker). Buffers are never
 * reused after they are handed out, so a fresh buffer's zeroes are the bytes.
 */
function* zeros(batch: Batch, count: number): Generator<Uint8Array> {
  while (count > 0) {
    if (batch.full) yield batch.rotate();
    const step = Math.min(count, batch.buf.length - batch.pos);
    batch.pos += step;
    count -= step;
  }
}

async function* tarBatches<E extends LayerEntry>(
  entries: Iterable<E>,
  open: (entry: E) => FileContent,
  options: LayerTarOptions,
): AsyncGenerator<Uint8Array> {
  const stats = options.stats ?? newTarStats();
  const signal = options.signal;
  const batch = new Batch(options.batchSize ?? 1 << 20, stats);
  const firstPathOf = new Map<string, string>();

  for (const entry of entries) {
    signal?.throwIfAborted();
    let type: "file" | "directory" | "symlink" | "hardlink" = entry.kind;
    let linkTarget = entry.target;
    if (entry.kind === "file") {
      const first = firstPathOf.get(entry.checksum);
      if (first !== undefined) {
        type = "hardlink";
        linkTarget = first;
      } else {
        firstPathOf.set(entry.checksum, entry.path);
      }
    }
    const header = encodeTarHeader({
      path: entry.path,
      type,
      mode: entry.mode,
      uid: entry.uid,
      gid: entry.gid,
      size: type === "file" ? entry.size : 0,
      linkTarget,
      xattrs: entry.xattrs,
    });
    if (batch.pos + header.length > batch.buf.length) {
      const filled = batch.rotate(header.length);
      if (filled.length > 0) yield filled;
    }
    batch.buf.set(header, batch.pos);
    batch.pos += header.length;

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
      yield* zeros(batch, paddingFor(entry.size));
    }
    stats.entries++;
  }
  yield* zeros(batch, 2 * BLOCK_SIZE);
  yield batch.rotate();
}
