import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { crc32, gunzipSync } from "node:zlib";
import { createCompressionStream } from "./compression.ts";
import { crc32Combine } from "./crc32.ts";
import { DeflatePool } from "./deflate_pool.ts";
import { GZIP_BLOCK_SIZE, ParallelGzipStream } from "./parallel_gzip.ts";

/** Mixed, partly compressible data of `size` bytes, in uneven chunks. */
function sample(size: number): Uint8Array[] {
  const data = new Uint8Array(size);
  let x = 12345;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    data[i] = i % 3000 < 1500 ? (x >>> 24) : (i & 0x3f) + 0x20;
  }
  const chunks: Uint8Array[] = [];
  for (let i = 0, step = 1000; i < size; i += step, step = (step * 7) % 300000 + 1) {
    chunks.push(data.slice(i, i + step));
  }
  return chunks;
}

async function gzipWith(workers: number, chunks: Uint8Array[]): Promise<Uint8Array> {
  const pool = new DeflatePool(workers);
  try {
    return new Uint8Array(
      await new Response(ReadableStream.from(chunks).pipeThrough(new ParallelGzipStream(pool))).arrayBuffer(),
    );
  } finally {
    pool.terminate();
  }
}

Deno.test("crc32Combine equals the CRC of the concatenation", () => {
  const a = new TextEncoder().encode("hello, ");
  const b = new TextEncoder().encode("world".repeat(1000));
  const whole = new Uint8Array([...a, ...b]);
  assert.equal(crc32Combine(crc32(a), crc32(b), b.length), crc32(whole));
  assert.equal(crc32Combine(crc32(a), 0, 0), crc32(a));
});

Deno.test("parallel gzip output does not depend on the number of workers", async () => {
  const chunks = sample(3 * GZIP_BLOCK_SIZE + 12345);
  const one = await gzipWith(1, chunks);
  const two = await gzipWith(2, chunks);
  const four = await gzipWith(4, chunks);
  const digest = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
  assert.equal(digest(two), digest(one));
  assert.equal(digest(four), digest(one));
});

Deno.test("parallel gzip is one valid gzip member that gzip -t and zlib accept", async () => {
  const chunks = sample(2 * GZIP_BLOCK_SIZE + 7);
  const gz = await gzipWith(2, chunks);
  assert.deepEqual(Array.from(gz.subarray(0, 4)), [0x1f, 0x8b, 8, 0]);
  const back = new Uint8Array(gunzipSync(gz));
  const original = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    original.set(c, o);
    o += c.length;
  }
  assert.deepEqual(back, original);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/x.gz`, gz);
    const check = await new Deno.Command("gzip", { args: ["-t", `${dir}/x.gz`] }).output();
    assert.ok(check.success, "gzip -t accepts the stream");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("empty input gives a valid empty gzip stream", async () => {
  const gz = await gzipWith(1, []);
  assert.equal(gunzipSync(gz).length, 0);
});

Deno.test("zstd compression round-trips through the zstd CLI", async () => {
  const chunks = sample(GZIP_BLOCK_SIZE + 99);
  const pool = new DeflatePool(1);
  let zst: Uint8Array;
  try {
    zst = new Uint8Array(
      await new Response(ReadableStream.from(chunks).pipeThrough(createCompressionStream("zstd", pool))).arrayBuffer(),
    );
  } finally {
    pool.terminate();
  }
  assert.deepEqual(Array.from(zst.subarray(0, 4)), [0x28, 0xb5, 0x2f, 0xfd]);
  const child = new Deno.Command("zstd", { args: ["-d", "-c"], stdin: "piped", stdout: "piped" }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(zst);
  await writer.close();
  const out = await child.output();
  assert.ok(out.success);
  assert.equal(out.stdout.length, chunks.reduce((n, c) => n + c.length, 0));
});

/**
 * The gzip bytes come from the deflate inside Deno (pinned in
 * scripts/setup.sh): image digests are reproducible only while they do not
 * change. If this fails after a Deno upgrade, every image digest changes:
 * either keep the old Deno, or accept the new bytes knowingly (update the
 * digests here and say so in the release notes).
 */
Deno.test("golden digests: Deno's deflate still gives the bytes images were built with", async () => {
  const chunks = sample(2 * GZIP_BLOCK_SIZE + 4321);
  const digest = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
  const golden = {
    gzip6: "sha256:6e007f3b567614a58f8a4b60e71f996ebd15cd5a8b8b05791567348d6836c98e",
    gzip1: "sha256:941ce3b8ea52e414d4125bdc421f530869bffe186bd587b23b2edf7f46e32aed",
    zstd3: "sha256:a2bfd6ae70365bdbd3b3e7d62ba80bf55dc74aa2307cc1b4d215f6696d0a6f32",
  };
  assert.equal(digest(await gzipWith(2, chunks)), golden.gzip6, "parallel gzip, level 6");
  const pool = new DeflatePool(1);
  try {
    const level1 = ReadableStream.from(chunks).pipeThrough(createCompressionStream("gzip", pool, { level: 1 }));
    assert.equal(digest(new Uint8Array(await new Response(level1).arrayBuffer())), golden.gzip1, "gzip, level 1");
    const zstd = ReadableStream.from(chunks).pipeThrough(createCompressionStream("zstd", pool));
    assert.equal(digest(new Uint8Array(await new Response(zstd).arrayBuffer())), golden.zstd3, "zstd, level 3");
  } finally {
    pool.terminate();
  }
});
