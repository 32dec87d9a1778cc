import assert from "node:assert/strict";
import { createGunzip, gzipSync } from "node:zlib";
import { throughNodeTransform } from "./node_stream.ts";

Deno.test("throughNodeTransform: inflates, and only as fast as it is read", async () => {
  const text = await new Response(throughNodeTransform(ReadableStream.from([gzipSync("hello")]), createGunzip()))
    .text();
  assert.equal(text, "hello");

  // 256 MiB of zeros in ~256 KiB of gzip, fed in 1 KiB pieces: read 1 MiB of output, then stop. A transform
  // that runs ahead of its reader eats all its input (and inflates it into memory); a paced one eats a few KiB.
  const bomb = gzipSync(new Uint8Array(256 << 20));
  let fed = 0;
  const input = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (fed >= bomb.length) return controller.close();
      controller.enqueue(bomb.subarray(fed, fed + 1024));
      fed += 1024;
    },
  }, { highWaterMark: 0 });
  const reader = throughNodeTransform(input, createGunzip({ chunkSize: 64 << 10 })).getReader();
  let read = 0;
  while (read < 1 << 20) read += (await reader.read()).value!.length;
  await new Promise((resolve) => setTimeout(resolve, 100)); // the transform would run ahead now, if it could
  await reader.cancel();
  // ~1 KiB of input gives ~1 MiB of output: 1 MiB read, up to 1 MiB waiting, one 8 KiB piece in the transform.
  assert.ok(fed <= 16 << 10, `${fed} of ${bomb.length} compressed bytes were taken to give 1 MiB`);
});

Deno.test("throughNodeTransform: a cancelled reader stops the transform without an uncaught error", async () => {
  const bomb = gzipSync(new Uint8Array(64 << 20));
  const out = throughNodeTransform(ReadableStream.from([bomb]), createGunzip());
  const reader = out.getReader();
  await reader.read();
  await reader.cancel(new Error("disk full"));
  // Give the transform's events a chance to fire into a cancelled stream (they used to, uncaught).
  await new Promise((resolve) => setTimeout(resolve, 50));
});

Deno.test("throughNodeTransform: corrupt input is an error of the stream", async () => {
  const bad = new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  await assert.rejects(new Response(throughNodeTransform(ReadableStream.from([bad]), createGunzip())).arrayBuffer());
});
