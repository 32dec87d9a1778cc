/**
 * zstd compression on a Web Worker, as a `TransformStream`: the main thread
 * keeps writing tar and hashing while the worker compresses. One zstd
 * frame, the same bytes for the same input chunks.
 *
 * @module
 */

import type { BufferPool } from "../util/buffer_pool.ts";
import type { ZstdWorkerReply, ZstdWorkerRequest } from "./zstd_worker.ts";

/** zstd level used for layers (zstd's default, as `zstd -3`). */
export const ZSTD_LEVEL = 3;

/** Options for {@linkcode ZstdWorkerStream}. */
export interface ZstdStreamOptions {
  /** Compression level (default {@linkcode ZSTD_LEVEL}). */
  level?: number;
  /** Chunks in flight at most (default 4). */
  maxInFlight?: number;
  /**
   * Where input buffers go back once the worker has read them. With a pool,
   * chunks that are whole buffers of the pool's size are handed to the
   * worker without a copy (the stream takes them over); without one, every
   * chunk is copied and the caller's buffers stay untouched.
   */
  bufferPool?: BufferPool;
}

/**
 * A `TransformStream` that zstd-compresses on its own worker.
 *
 * @example
 * ```ts
 * import { ZstdWorkerStream } from "./zstd_stream.ts";
 * const zst = ReadableStream.from([new TextEncoder().encode("hello")]).pipeThrough(new ZstdWorkerStream());
 * const bytes = new Uint8Array(await new Response(zst).arrayBuffer()); // starts 28 b5 2f fd
 * ```
 */
export class ZstdWorkerStream extends TransformStream<Uint8Array, Uint8Array> {
  constructor(options: ZstdStreamOptions = {}) {
    const maxInFlight = options.maxInFlight ?? 4;
    const pool = options.bufferPool;
    let worker: Worker | undefined;
    let inFlight = 0;
    let failure: Error | undefined;
    let wake: (() => void) | undefined;
    let done: { resolve: () => void; reject: (e: Error) => void } | undefined;
    let controllerRef: TransformStreamDefaultController<Uint8Array>;

    const emit = (data: ArrayBuffer[]) => {
      for (const d of data) if (d.byteLength > 0) controllerRef.enqueue(new Uint8Array(d));
    };
    const waitForRoom = async () => {
      while (inFlight >= maxInFlight && !failure) await new Promise<void>((r) => (wake = r));
      if (failure) throw failure;
    };
    const stop = () => {
      worker?.terminate();
      worker = undefined;
    };

    super({
      start(controller) {
        controllerRef = controller;
        worker = new Worker(new URL("./zstd_worker.ts", import.meta.url).href, { type: "module" });
        worker.onmessage = (event: MessageEvent<ZstdWorkerReply>) => {
          const reply = event.data;
          if (reply.type === "output") {
            inFlight--;
            emit(reply.data);
            if (reply.input && pool) pool.give(new Uint8Array(reply.input));
          } else if (reply.type === "done") {
            emit(reply.data);
            stop();
            done?.resolve();
          } else {
            failure = new Error(`zstd worker: ${reply.message}`);
            stop();
            done?.reject(failure);
          }
          const w = wake;
          wake = undefined;
          w?.();
        };
        worker.onerror = (event) => {
          event.preventDefault();
          failure = new Error(`zstd worker failed: ${event.message}`);
          stop();
          done?.reject(failure);
          wake?.();
        };
        const start: ZstdWorkerRequest = { type: "start", level: options.level ?? ZSTD_LEVEL };
        worker.postMessage(start);
      },
      async transform(chunk) {
        await waitForRoom();
        const owned = pool && chunk.byteOffset === 0 && chunk.byteLength === pool.size &&
            chunk.buffer.byteLength === pool.size
          ? chunk
          : Uint8Array.prototype.slice.call(chunk) as Uint8Array;
        const message: ZstdWorkerRequest = { type: "chunk", input: owned.buffer as ArrayBuffer, length: owned.length };
        inFlight++;
        worker!.postMessage(message, [message.input]);
      },
      async flush() {
        if (failure) throw failure;
        const finished = new Promise<void>((resolve, reject) => (done = { resolve, reject }));
        const end: ZstdWorkerRequest = { type: "end" };
        worker!.postMessage(end);
        await finished;
      },
      cancel() {
        stop();
      },
    });
  }
}
