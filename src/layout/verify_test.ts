import assert from "node:assert/strict";
import { join } from "node:path";
import { craftLayout, digestOf } from "../../tests/helpers/oci_builder.ts";
import { verifyLayout } from "./verify.ts";

Deno.test("verify: a sound layout, then corruption, a missing blob and a wrong size, each by digest and path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const image = await craftLayout(dir, [[{ path: "a", content: "a" }], [{ path: "b", content: "b" }]]);
    const sound = await verifyLayout(dir);
    assert.deepEqual(sound.problems, []);
    assert.equal(sound.blobs, 4);
    assert.equal(sound.manifests, 1);

    const stray = digestOf(new TextEncoder().encode("stray"));
    await Deno.writeTextFile(join(dir, "blobs/sha256", stray.slice(7)), "stray");
    const [l0, l1] = image.layers;
    const corrupt = join(dir, "blobs/sha256", l0.digest.slice(7));
    const bytes = await Deno.readFile(corrupt);
    bytes[bytes.length - 1] ^= 1;
    await Deno.writeFile(corrupt, bytes);
    await Deno.remove(join(dir, "blobs/sha256", l1.digest.slice(7)));
    const damaged = await verifyLayout(dir);
    const byKind = Object.fromEntries(damaged.problems.map((p) => [p.kind, p]));
    assert.equal(byKind.corrupt?.digest, l0.digest);
    assert.equal(byKind.corrupt?.path, `blobs/sha256/${l0.digest.slice(7)}`);
    assert.equal(byKind.missing?.digest, l1.digest);
    assert.match(byKind.missing?.message ?? "", /referenced by manifest sha256:/);
    assert.deepEqual(damaged.unreferenced, [stray]);

    const dir2 = await Deno.makeTempDir({ dir });
    await craftLayout(dir2, [[{ path: "a", content: "a" }]], { tamper: { layer: 0, sizeDelta: 3 } });
    const size = await verifyLayout(dir2);
    assert.equal(size.problems.length, 1);
    assert.equal(size.problems[0].kind, "size");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
