/**
 * Layer compression: which algorithms exist, their OCI media types, and
 * the stream that applies one.
 *
 * @module
 */

import type { BufferPool } from "../util/buffer_pool.ts";
import type { DeflatePool } from "./deflate_pool.ts";
import { ParallelGzipStream } from "./parallel_gzip.ts";
import { ZstdWorkerStream } from "./zstd_stream.ts";

/** Supported layer compressions. */
export type Compression = "gzip" | "zstd";

/** All supported compressions, for validation and help texts. */
export const COMPRESSIONS: readonly Compression[] = ["gzip", "zstd"];

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
  options: { bufferPool?: BufferPool } = {},
): ReadableWritablePair<Uint8Array, Uint8Array> {
  if (compression === "gzip") return new ParallelGzipStream(pool, { bufferPool: options.bufferPool });
  return new ZstdWorkerStream({ bufferPool: options.bufferPool });
}
