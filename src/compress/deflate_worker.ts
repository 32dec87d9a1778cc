/**
 * Web Worker body for {@linkcode DeflatePool}: deflates one block of a
 * parallel gzip stream and checksums it.
 *
 * @module
 */

import { constants, crc32, deflateRawSync } from "node:zlib";
import type { DeflateJob, DeflateResult } from "./deflate_pool.ts";

/** The worker's global scope, typed for what this module uses. */
const scope = self as unknown as {
  onmessage: ((event: MessageEvent<DeflateJob>) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
};

/**
 * `gc` exists when V8 runs with --expose-gc (the CLI's flags set it). A
 * worker's heap is tiny, so V8 seldom collects it on its own, while every
 * block leaves ~1 MiB of dead zlib output behind: collect every few blocks.
 */
const collectGarbage = (globalThis as { gc?: () => void }).gc;
const GC_EVERY_JOBS = 8;
let jobs = 0;

scope.onmessage = (event: MessageEvent<DeflateJob>) => {
  const job = event.data;
  if (++jobs % GC_EVERY_JOBS === 0) collectGarbage?.();
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
    const result: DeflateResult = {
      id: job.id,
      output: output.buffer as ArrayBuffer,
      crc: crc32(input),
      input: job.input,
    };
    // The input goes back too, for reuse: buffers left to a worker's tiny
    // heap would be collected late, and memory would grow with the image.
    scope.postMessage(result, [result.output, job.input]);
  } catch (error) {
    scope.postMessage({ id: job.id, error: error instanceof Error ? error.message : String(error) });
  }
};
