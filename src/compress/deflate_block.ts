/**
 * Deflating one block of a parallel gzip stream: raw deflate, ending with a
 * sync flush unless it is the last block (so that blocks concatenate into
 * one deflate stream), and the CRC-32 of the input. Workers run it; the
 * pool runs it inline for a lone small block. One function, so both give
 * the same bytes.
 *
 * @module
 */

import { constants, crc32, deflateRawSync } from "node:zlib";

/**
 * Deflates `input` as one block.
 *
 * @example
 * ```ts
 * import { deflateBlock } from "./deflate_block.ts";
 * const { data, crc } = deflateBlock(new TextEncoder().encode("hello"), true, 6);
 * ```
 */
export function deflateBlock(input: Uint8Array, final: boolean, level: number): { data: Uint8Array; crc: number } {
  const deflated = deflateRawSync(input, {
    level,
    finishFlush: final ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
  });
  // deflateRawSync may return a view of a larger pooled buffer: copy out
  // exactly our bytes (they are transferred between threads).
  return { data: Uint8Array.prototype.slice.call(deflated) as Uint8Array, crc: crc32(input) };
}
