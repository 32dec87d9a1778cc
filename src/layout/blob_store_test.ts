import assert from "node:assert/strict";
import { join } from "node:path";
import { DirBlobStore } from "./blob_store.ts";

/** A store whose `has` (asked just before a blob is renamed into place) waits at a gate once one is set. */
class GatedStore extends DirBlobStore {
  gate: Promise<void> | undefined;
  reached = Promise.withResolvers<void>();
  override async has(digest: string): Promise<boolean> {
    if (this.gate) {
      this.reached.resolve();
      await this.gate;
    }
    return await super.has(digest);
  }
}

Deno.test("DirBlobStore: a rollback while a blob is being written leaves no blob and no temp directory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "apt-ostree-blobs-" });
  try {
    const store = new GatedStore(dir, join(dir, ".apt-ostree-tmp"));
    await store.putBytes(new TextEncoder().encode("an earlier blob of this build"));
    // The next blob is written, then waits just before its rename...
    const gate = Promise.withResolvers<void>();
    store.gate = gate.promise;
    const writing = store.put(ReadableStream.from([new TextEncoder().encode("a late layer")]));
    await store.reached.promise;
    // ...while the build fails and rolls back; the rename goes ahead during the rollback.
    const rollingBack = store.rollback();
    gate.resolve();
    await Promise.allSettled([writing]);
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
