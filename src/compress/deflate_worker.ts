/**
 * Web Worker body for {@linkcode DeflatePool}: deflates one block of a
 * parallel gzip stream and checksums it, or calls a module's function.
 *
 * @module
 */

import { garbageCollector } from "../util/gc.ts";
import { deflateBlock } from "./deflate_block.ts";
import type { CallJob, CallResult, DeflateResult, PoolJob } from "./deflate_pool.ts";

/** The worker's global scope, typed for what this module uses. */
const scope = self as unknown as {
  onmessage: ((event: MessageEvent<PoolJob>) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
};

/**
 * A worker's heap is tiny, so V8 seldom collects it on its own, while every
 * block leaves ~1 MiB of dead zlib output behind: collect every few blocks.
 */
const collectGarbage = garbageCollector(8);

/** The buffers of typed arrays in a value's top-level fields (transferred back, not copied). */
function transferables(value: unknown): ArrayBuffer[] {
  if (value === null || typeof value !== "object") return [];
  const buffers = new Set<ArrayBuffer>();
  for (const field of Object.values(value)) {
    if (ArrayBuffer.isView(field) && field.buffer instanceof ArrayBuffer) buffers.add(field.buffer);
  }
  return [...buffers];
}

/** Runs a call job; jobs after it wait (a worker runs one job at a time). */
async function call(job: CallJob): Promise<void> {
  let result: CallResult;
  try {
    const module = await import(job.module);
    result = { id: job.id, value: await module[job.fn](...job.args) };
  } catch (error) {
    result = { id: job.id, error: error instanceof Error ? error.message : String(error) };
  }
  scope.postMessage(result, transferables(result.value));
}

scope.onmessage = (event: MessageEvent<PoolJob>) => {
  const job = event.data;
  collectGarbage();
  if (job.kind === "call") {
    void call(job);
    return;
  }
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
