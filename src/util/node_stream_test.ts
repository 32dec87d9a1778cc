import assert from "node:assert/strict";
import { createGunzip, gzipSync } from "node:zlib";
import { throughNodeTransform } from "./node_stream.ts";

Deno.test("throughNodeTransform: inflates, and only as fast as it is read", async () => {
  const text = await new Response(throughNodeTransform(ReadableStream.from([gzipSync("hello")]), createGunzip()))
    .text();
  assert.equal(text, "hello");

  // 256 MiB of zeros in 256 KiB of gzip: read 1 MiB, then stop. Memory must not follow the bomb.
  const bomb = gzipSync(new Uint8Array(256 << 20));
  const before = Deno.memoryUsage().rss;
  const out = throughNodeTransform(ReadableStream.from([bomb]), createGunzip({ chunkSize: 64 << 10 }));
  const reader = out.getReader();
  let read = 0;
  while (read < 1 << 20) read += (await reader.read()).value!.length;
  await new Promise((resolve) => setTimeout(resolve, 100)); // the transform would run ahead now, if it could
  const grown = Deno.memoryUsage().rss - before;
  await reader.cancel();
  assert.ok(grown < 64 << 20, `memory grew by ${grown >> 20} MiB while 1 MiB was read`);
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
