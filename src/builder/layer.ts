/**
 * One layer through the pipeline: entries → tar stream → SHA-256 of the tar
 * (the diff_id) → compression → the blob store (which hashes and sizes the
 * compressed blob and renames it into place).
 *
 * @module
 */

import { type Compression, createCompressionStream, LAYER_MEDIA_TYPES } from "../compress/compression.ts";
import type { DeflatePool } from "../compress/deflate_pool.ts";
import { DigestStream } from "../digest/digest.ts";
import type { BlobStore } from "../oci/image.ts";
import type { Descriptor } from "../oci/types.ts";
import type { TreeEntry } from "../ostree/tree.ts";
import { createLayerTarStream, type FileContent, type LayerEntry, type TarStats } from "../tar/layer_tar.ts";
import { BufferPool } from "../util/buffer_pool.ts";
import { GZIP_BLOCK_SIZE } from "../compress/parallel_gzip.ts";

/** Options for {@linkcode buildLayer}. */
export interface BuildLayerOptions {
  /** Layer compression. */
  compression: Compression;
  /** Compression level (default: the compression's own default). */
  level?: number;
  /** Workers for gzip. */
  pool: DeflatePool;
  /** Buffers for tar batches and compression blocks, shared by the layers of a build (default: the layer's own). */
  bufferPool?: BufferPool;
  /** Aborts the layer; its partial blob is removed. */
  signal?: AbortSignal;
  /** Counters to advance while writing. */
  stats?: TarStats;
  /** Layer descriptor annotations. */
  annotations?: Record<string, string>;
  /** Link files with equal checksums (default true; see `LayerTarOptions`). */
  linkEqualContent?: boolean;
}

/** A written layer. */
export interface BuiltLayer {
  /** Descriptor of the compressed blob. */
  descriptor: Descriptor;
  /** SHA-256 of the uncompressed tar. */
  diffId: string;
  /** Size of the uncompressed tar. */
  tarSize: number;
}

/**
 * Streams `entries` as one compressed layer into `blobs`.
 *
 * @example
 * ```ts
 * import { buildLayer } from "./layer.ts";
 * import { DeflatePool } from "../compress/deflate_pool.ts";
 * import { DirBlobStore } from "../layout/blob_store.ts";
 * import { OstreeRepo } from "../ostree/repo.ts";
 * import { contentSourceFor } from "../ostree/content.ts";
 * const repo = await OstreeRepo.open("repo");
 * const entries = await repo.readTree(await repo.resolveCommit("main"));
 * const pool = new DeflatePool();
 * const layer = await buildLayer(entries, contentSourceFor(repo), new DirBlobStore("out", "out/.tmp"), { compression: "gzip", pool });
 * pool.terminate();
 * ```
 */
export async function buildLayer<E extends LayerEntry = TreeEntry>(
  entries: Iterable<E>,
  content: { open(entry: E): FileContent },
  blobs: BlobStore,
  options: BuildLayerOptions,
): Promise<BuiltLayer> {
  // Tar batches and gzip blocks share one size and one pool: full batches
  // go to the workers without a copy and come back for reuse.
  const bufferPool = options.bufferPool ?? new BufferPool(GZIP_BLOCK_SIZE);
  const tar = createLayerTarStream(entries, (e) => content.open(e), {
    signal: options.signal,
    stats: options.stats,
    bufferPool,
    linkEqualContent: options.linkEqualContent,
  });
  const diff = new DigestStream();
  const compressed = tar.pipeThrough(diff).pipeThrough(
    createCompressionStream(options.compression, options.pool, { bufferPool, level: options.level }),
  );
  const blob = await blobs.put(compressed, { signal: options.signal });
  const { digest: diffId, size: tarSize } = await diff.result;
  const descriptor: Descriptor = {
    mediaType: LAYER_MEDIA_TYPES[options.compression],
    digest: blob.digest,
    size: blob.size,
  };
  if (options.annotations && Object.keys(options.annotations).length > 0) descriptor.annotations = options.annotations;
  return { descriptor, diffId, tarSize };
}
