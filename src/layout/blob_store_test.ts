import assert from "node:assert/strict";
import { join } from "node:path";
import { DirBlobStore } from "./blob_store.ts";

Deno.test("DirBlobStore: a write still running at rollback leaves no blob behind", async () => {
  const dir = await Deno.makeTempDir({ prefix: "apt-ostree-blobs-" });
  try {
    const store = new DirBlobStore(dir, join(dir, ".apt-ostree-tmp"));
    await store.putBytes(new TextEncoder().encode("kept? no: added by this store"));
    // A blob whose bytes arrive only after the rollback has started.
    const gate = Promise.withResolvers<void>();
    const late = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await gate.promise;
        controller.enqueue(new TextEncoder().encode("late layer"));
        controller.close();
      },
    });
    const writing = store.put(late);
    const rollingBack = store.rollback();
    gate.resolve();
    await assert.rejects(writing);
    await rollingBack;
    const blobs = await Array.fromAsync(Deno.readDir(join(dir, "blobs", "sha256")), (e) => e.name);
    assert.deepEqual(blobs, [], "neither the earlier blob nor the late one is left");
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(dir), (e) => e.name)).sort(),
      ["blobs"],
      "no temp directory is left",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
