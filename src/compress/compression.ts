/**
 * Layer compression: which algorithms exist, their OCI media types, and
 * the stream that applies one.
 *
 * @module
 */

import type { BufferPool } from "../util/buffer_pool.ts";
import type { DeflatePool } from "./deflate_pool.ts";
import { GZIP_LEVEL, ParallelGzipStream } from "./parallel_gzip.ts";
import { ZSTD_LEVEL, ZstdWorkerStream } from "./zstd_stream.ts";

/** Supported layer compressions. */
export type Compression = "gzip" | "zstd";

/** All supported compressions, for validation and help texts. */
export const COMPRESSIONS: readonly Compression[] = ["gzip", "zstd"];

/** Default level of each compression: `gzip -6`'s and `zstd -3`'s. */
export const DEFAULT_LEVELS: Record<Compression, number> = { gzip: GZIP_LEVEL, zstd: ZSTD_LEVEL };

/** Levels each compression accepts. */
export const LEVEL_RANGES: Record<Compression, [number, number]> = { gzip: [1, 9], zstd: [1, 19] };

/** OCI media type of a layer with the given compression. */
export const LAYER_MEDIA_TYPES: Record<Compression, string> = {
  gzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  zstd: "application/vnd.oci.image.layer.v1.tar+zstd",
};

/**
 * Returns a stream pair that compresses what is written to it.
 *
 * @example
 * ```ts
 * import { DeflatePool } from "./deflate_pool.ts";
 * import { createCompressionStream } from "./compression.ts";
 * const pool = new DeflatePool();
 * const compressed = ReadableStream.from([new Uint8Array(10)]).pipeThrough(createCompressionStream("gzip", pool));
 * ```
 */
export function createCompressionStream(
  compression: Compression,
  pool: DeflatePool,
  options: { bufferPool?: BufferPool; level?: number } = {},
): ReadableWritablePair<Uint8Array, Uint8Array> {
  const level = options.level ?? DEFAULT_LEVELS[compression];
  if (compression === "gzip") return new ParallelGzipStream(pool, { bufferPool: options.bufferPool, level });
  return new ZstdWorkerStream({ bufferPool: options.bufferPool, level });
}
