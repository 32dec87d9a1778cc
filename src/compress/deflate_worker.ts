/**
 * Web Worker body for {@linkcode DeflatePool}: deflates one block of a
 * parallel gzip stream and checksums it.
 *
 * @module
 */

import { constants, crc32, deflateRawSync } from "node:zlib";
import type { DeflateJob, DeflateResult } from "./deflate_pool.ts";

/// <reference lib="deno.worker" />

self.onmessage = (event: MessageEvent<DeflateJob>) => {
  const job = event.data;
  try {
    const input = new Uint8Array(job.input, 0, job.length);
    const deflated = deflateRawSync(input, {
      level: job.level,
      // A non-final block ends on a byte boundary without BFINAL, so the
      // blocks concatenate into one deflate stream.
      finishFlush: job.final ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
    });
    // deflateRawSync may return a view of a larger pooled buffer: copy out
    // exactly our bytes before transferring them.
    const output = Uint8Array.prototype.slice.call(deflated) as Uint8Array;
    const result: DeflateResult = { id: job.id, output: output.buffer as ArrayBuffer, crc: crc32(input) };
    self.postMessage(result, [result.output]);
  } catch (error) {
    self.postMessage({ id: job.id, error: error instanceof Error ? error.message : String(error) });
  }
};
