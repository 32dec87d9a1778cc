/**
 * A Node transform stream (zlib's gunzip, zstd) driven from web streams,
 * written here because `Duplex.toWeb` is wrong for the job: it pushes
 * every chunk the transform emits into the web side, with no regard for
 * backpressure (a gzip bomb fills memory when the reader is slow) and
 * after the web side was cancelled (`The stream controller cannot close or
 * enqueue`, uncaught, when a write failed on a full disk). Here the
 * transform is read in paused mode, one chunk per pull, and fed small
 * pieces only while its output is being read, so it inflates only as fast
 * as the reader reads (memory stays bounded even for a gzip bomb), and
 * cancelling destroys it.
 *
 * @module
 */

import type { Transform } from "node:stream";

/** Waits for the first of `events` on `stream` and removes the other listeners. */
function once(stream: Transform, events: string[]): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      for (const event of events) stream.off(event, done);
      resolve();
    };
    for (const event of events) stream.once(event, done);
  });
}

/**
 * Pipes `input` through the Node transform `node`; returns its output.
 *
 * @example
 * ```ts
 * import { createGunzip, gzipSync } from "node:zlib";
 * import { throughNodeTransform } from "./node_stream.ts";
 * const gz = ReadableStream.from([new Uint8Array(gzipSync("hello"))]);
 * const text = await new Response(throughNodeTransform(gz, createGunzip())).text(); // "hello"
 * ```
 */
export function throughNodeTransform(input: ReadableStream<Uint8Array>, node: Transform): ReadableStream<Uint8Array> {
  let failed: { error: unknown } | undefined;
  node.on("error", (error) => failed ??= { error });
  const reader = input.getReader();
  let wake: (() => void) | undefined;
  const consumed = () => new Promise<void>((resolve) => wake = resolve);
  // Feeds the transform a small piece at a time, and only while what it made is being read: a piece of
  // deflate inflates at most ~1032-fold, so memory stays under OUTPUT_LIMIT plus one piece's worth.
  (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        for (let offset = 0; offset < value.length; offset += PIECE) {
          await new Promise<void>((resolve, reject) =>
            node.write(value.subarray(offset, offset + PIECE), (error) => error ? reject(error) : resolve())
          );
          while (node.readableLength > OUTPUT_LIMIT && !node.destroyed && !failed) await consumed();
          if (failed || node.destroyed) return;
        }
      }
      node.end();
    } catch (error) {
      node.destroy(error as Error);
    }
  })();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        if (failed) throw failed.error;
        const chunk = node.read() as Uint8Array | null;
        if (chunk !== null) {
          controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
          wake?.();
          return;
        }
        if (node.readableEnded) {
          controller.close();
          return;
        }
        if (node.destroyed) throw new Error("the stream was destroyed");
        wake?.();
        await once(node, ["readable", "end", "error", "close"]);
      }
    },
    async cancel(reason) {
      node.destroy();
      wake?.();
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}

/** Input is written to the transform in pieces of this size. */
const PIECE = 8 << 10;
/** The transform is fed only while less than this much of its output waits to be read. */
const OUTPUT_LIMIT = 1 << 20;
