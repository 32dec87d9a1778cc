/**
 * A Node transform stream (zlib's gunzip, zstd) driven from web streams,
 * written here because `Duplex.toWeb` is wrong for the job: it pushes
 * every chunk the transform emits into the web side, with no regard for
 * backpressure (a gzip bomb fills memory when the reader is slow) and
 * after the web side was cancelled (`The stream controller cannot close or
 * enqueue`, uncaught, when a write failed on a full disk). Here the
 * transform is read in paused mode, one chunk per pull, so it inflates
 * only as fast as the reader reads, and cancelling destroys it.
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
  // Feeds the transform, waiting when it holds as much as it wants.
  (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (!node.write(value)) await once(node, ["drain", "close", "error"]);
        if (failed || node.destroyed) return;
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
          return;
        }
        if (node.readableEnded) {
          controller.close();
          return;
        }
        if (node.destroyed) throw new Error("the stream was destroyed");
        await once(node, ["readable", "end", "error", "close"]);
      }
    },
    async cancel(reason) {
      node.destroy();
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}
