import assert from "node:assert/strict";
import { DeflatePool } from "./deflate_pool.ts";

/** A module with functions for the pool's workers to call. */
async function callee(dir: string): Promise<URL> {
  const path = `${dir}/callee.ts`;
  await Deno.writeTextFile(
    path,
    [
      "export function whereAndWhat(n: number) {",
      '  return { inWorker: typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== "undefined",',
      "    squares: Uint32Array.from({ length: n }, (_, i) => i * i) };",
      "}",
      "export function busy(ms: number) { const end = Date.now() + ms; while (Date.now() < end); return ms; }",
      'export function boom() { throw new Error("boom"); }',
    ].join("\n"),
  );
  return new URL(`file://${path}`);
}

Deno.test("DeflatePool.call: runs on a worker, hands typed arrays back, reports a throw", async () => {
  const dir = await Deno.makeTempDir();
  const pool = new DeflatePool(2);
  try {
    const module = await callee(dir);
    const got = await pool.call<{ inWorker: boolean; squares: Uint32Array }>(module, "whereAndWhat", [4]);
    assert.equal(got.inWorker, true);
    assert.deepEqual([...got.squares], [0, 1, 4, 9]);
    await assert.rejects(() => pool.call(module, "boom", []), /boom/);
    // Deflating still works on the same workers.
    const block = await pool.deflate(new Uint8Array(1 << 20), true, 6);
    assert.ok(block.data.length > 0);
  } finally {
    pool.terminate();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("DeflatePool.call: a call no worker has started can be taken back; a started one runs to its end", async () => {
  const dir = await Deno.makeTempDir();
  const pool = new DeflatePool(2); // one worker
  try {
    const module = await callee(dir);
    const started = new AbortController();
    const first = pool.call<number>(module, "busy", [300], { signal: started.signal });
    const queued = new AbortController();
    const second = pool.call<number>(module, "busy", [300], { signal: queued.signal });
    started.abort();
    queued.abort(new Error("taken back"));
    await assert.rejects(second, /taken back/);
    assert.equal(await first, 300);
  } finally {
    pool.terminate();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("DeflatePool.call: a pool of one thread runs the call here", async () => {
  const dir = await Deno.makeTempDir();
  const pool = new DeflatePool(1);
  try {
    const got = await pool.call<{ inWorker: boolean }>(await callee(dir), "whereAndWhat", [1]);
    assert.equal(got.inWorker, false);
    assert.equal(pool.parallel, false);
  } finally {
    pool.terminate();
    await Deno.remove(dir, { recursive: true });
  }
});
