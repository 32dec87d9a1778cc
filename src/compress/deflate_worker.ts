/**
 * Web Worker body for {@linkcode DeflatePool}: deflates one block of a
 * parallel gzip stream and checksums it.
 *
 * @module
 */

import { garbageCollector } from "../util/gc.ts";
import { deflateBlock } from "./deflate_block.ts";
import type { DeflateJob, DeflateResult } from "./deflate_pool.ts";

/** The worker's global scope, typed for what this module uses. */
const scope = self as unknown as {
  onmessage: ((event: MessageEvent<DeflateJob>) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
};

/**
 * A worker's heap is tiny, so V8 seldom collects it on its own, while every
 * block leaves ~1 MiB of dead zlib output behind: collect every few blocks.
 */
const collectGarbage = garbageCollector(8);

scope.onmessage = (event: MessageEvent<DeflateJob>) => {
  const job = event.data;
  collectGarbage();
  try {
    const input = new Uint8Array(job.input, 0, job.length);
    const { data, crc } = deflateBlock(input, job.final, job.level);
    const result: DeflateResult = {
      id: job.id,
      output: data.buffer as ArrayBuffer,
      crc,
      input: job.input,
    };
    // The input goes back too, for reuse: buffers left to a worker's tiny
    // heap would be collected late, and memory would grow with the image.
    scope.postMessage(result, [result.output, job.input]);
  } catch (error) {
    scope.postMessage({ id: job.id, error: error instanceof Error ? error.message : String(error) });
  }
};
