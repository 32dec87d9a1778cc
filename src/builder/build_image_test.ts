import assert from "node:assert/strict";
import { join } from "node:path";
import { commitTree, createRepo, makeSmallTree } from "../../tests/helpers/fixture_repo.ts";
import { AptOstreeError } from "../errors.ts";
import { MemoryImageStore } from "../image/memory.ts";
import { buildImage } from "./build_image.ts";

const ROOT = Deno.uid() === 0;

Deno.test({
  name: "buildImage in process: the same tree in every repository mode gives the same image; a rebuild reuses it",
  ignore: !ROOT, // a bare repository (and its setuid and root-owned files) needs root
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "apt-ostree-build-" });
    try {
      await makeSmallTree(join(dir, "tree"));
      const digests = new Map<string, string>();
      for (const mode of ["bare", "bare-user", "archive"] as const) {
        const repo = await createRepo(mode, dir);
        await commitTree(repo, "main", join(dir, "tree"), { version: "1.0" });
        const sink = new MemoryImageStore(`memory:${mode}`);
        const result = await buildImage({ repo, source: "main", image: "app:1", sink, workers: 1 });
        assert.equal(result.output, `memory:${mode}`);
        assert.equal((await sink.root()).digest, result.digest);
        digests.set(mode, result.digest!);

        // Built again into the same sink: the whole image is reused, nothing is compressed.
        const again = await buildImage({ repo, source: "main", image: "app:1", sink, workers: 1 });
        assert.equal(again.reusedImage, true);
        assert.equal(again.digest, result.digest);
        assert.equal(sink.calls.abort, 0);
      }
      assert.equal(new Set(digests.values()).size, 1, JSON.stringify(Object.fromEntries(digests)));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "buildImage in process: a sink that fails aborts the build; nothing is committed",
  ignore: !ROOT,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "apt-ostree-build-" });
    try {
      await makeSmallTree(join(dir, "tree"));
      const repo = await createRepo("bare-user", dir);
      await commitTree(repo, "main", join(dir, "tree"));
      const sink = new MemoryImageStore();
      // The sink fills up at the first layer.
      sink.blobs.put = () => Promise.reject(new AptOstreeError("No space left on device while writing a blob"));
      await assert.rejects(
        buildImage({ repo, source: "main", image: "app:1", sink, workers: 1 }),
        /No space left on device/,
      );
      assert.equal(sink.calls.abort, 1);
      assert.equal(sink.calls.commit, 0);
      assert.equal(sink.blobs.blobs.size, 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
