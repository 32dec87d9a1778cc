import assert from "node:assert/strict";
import { join } from "node:path";
import { sha256Digest } from "../digest/digest.ts";
import { AptOstreeError } from "../errors.ts";
import { ArchiveSink } from "../archive/sink.ts";
import { ArchiveSource } from "../archive/source.ts";
import { LayoutSink } from "../layout/oci_layout.ts";
import { LayoutSource } from "../layout/source.ts";
import { jsonBytes } from "../oci/image_config.ts";
import { rawDescriptor, rawManifest } from "../oci/manifest.ts";
import { hostArch, ociPlatform } from "../oci/platform.ts";
import { MEDIA_TYPE_CONFIG, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST, type Platform } from "../oci/types.ts";
import { copyImage } from "./copy.ts";
import { MemoryImageStore } from "./memory.ts";

const text = (s: string) => new TextEncoder().encode(s);

/** Puts an image for `platform` into `store` (not committed); returns its raw manifest. */
async function addImage(store: MemoryImageStore, platform: Platform, layers: string[]) {
  const layerDescriptors = [];
  for (const content of layers) {
    const { digest, size } = await store.blobs.putBytes(text(content));
    layerDescriptors.push({ mediaType: "application/vnd.oci.image.layer.v1.tar", digest, size });
  }
  const config = await store.blobs.putBytes(jsonBytes({
    ...platform,
    rootfs: { type: "layers", diff_ids: layerDescriptors.map((l) => l.digest) },
  }));
  const raw = rawManifest(
    jsonBytes({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE_MANIFEST,
      config: { mediaType: MEDIA_TYPE_CONFIG, ...config },
      layers: layerDescriptors,
    }),
    MEDIA_TYPE_MANIFEST,
  );
  await store.putManifest(raw);
  return raw;
}

const HOST = ociPlatform(hostArch());
const OTHER: Platform = { os: "linux", architecture: HOST.architecture === "arm64" ? "amd64" : "arm64" };

/** A source holding an index of two platforms (committed), and its parts. */
async function twoPlatformSource() {
  const source = new MemoryImageStore("memory:source");
  const host = await addImage(source, HOST, ["host layer one", "shared layer"]);
  const other = await addImage(source, OTHER, ["other layer", "shared layer"]);
  const index = rawManifest(
    jsonBytes({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE_INDEX,
      manifests: [
        { ...rawDescriptor(host), platform: HOST },
        { ...rawDescriptor(other), platform: OTHER },
      ],
    }),
    MEDIA_TYPE_INDEX,
  );
  await source.commit(index);
  return { source, host, other, index };
}

Deno.test("copyImage: a manifest keeps its digest; a second copy writes nothing and moves no tag", async () => {
  const source = new MemoryImageStore("memory:source");
  const raw = await addImage(source, HOST, ["a", "b"]);
  await source.commit(raw);
  const sink = new MemoryImageStore("memory:sink");
  const first = await copyImage(source, sink);
  assert.equal(first.digest, raw.digest);
  assert.deepEqual(first.blobs, { total: 3, uploaded: 3, mounted: 0, skipped: 0 });
  assert.equal(first.tagged, true);
  assert.equal((await sink.root()).digest, raw.digest);
  const again = await copyImage(source, sink);
  assert.deepEqual(again.blobs, { total: 3, uploaded: 0, mounted: 0, skipped: 3 });
  assert.equal(again.bytes.sent, 0);
  assert.equal(again.manifests.uploaded, 0);
  assert.equal(again.tagged, false);
});

Deno.test("copyImage: an index gives the host's image, --arch's image, or with all the whole index", async () => {
  const { source, host, other, index } = await twoPlatformSource();
  const one = new MemoryImageStore();
  assert.equal((await copyImage(source, one)).digest, host.digest, "the host's platform by default");
  const picked = new MemoryImageStore();
  assert.equal((await copyImage(source, picked, { platform: OTHER })).digest, other.digest);
  const all = new MemoryImageStore();
  const result = await copyImage(source, all, { all: true });
  assert.equal(result.digest, index.digest);
  assert.equal(result.manifests.total, 3);
  assert.equal(result.blobs.total, 5, "two configs, three distinct layers (one shared)");
  assert.equal((await all.manifest(rawDescriptor(other))).digest, other.digest);
});

Deno.test("copyImage: bytes that do not match their digest are refused and the sink is left as it was", async () => {
  const source = new MemoryImageStore("memory:source");
  const raw = await addImage(source, HOST, ["good layer", "another"]);
  await source.commit(raw);
  const layer = JSON.parse(new TextDecoder().decode(raw.bytes)).layers[0];
  source.blobs.blobs.set(layer.digest, text("evil layer")); // same size, other bytes
  const sink = new MemoryImageStore("memory:sink");
  await assert.rejects(copyImage(source, sink, { concurrency: 1 }), (error: unknown) => {
    assert.ok(error instanceof AptOstreeError);
    assert.match(error.message, new RegExp(`^Blob ${layer.digest} in memory:source does not match its descriptor`));
    return true;
  });
  assert.equal(sink.calls.abort, 1);
  assert.equal(sink.calls.commit, 0);
  assert.equal(sink.blobs.blobs.size, 0, "nothing kept");
});

Deno.test("copyImage: an aborted copy rejects with the signal's reason and aborts the sink", async () => {
  const { source } = await twoPlatformSource();
  const sink = new MemoryImageStore();
  const controller = new AbortController();
  controller.abort(new Error("stop"));
  await assert.rejects(copyImage(source, sink, { signal: controller.signal }), /stop/);
  assert.equal(sink.calls.abort, 1);
  assert.equal(sink.calls.commit, 0);
});

Deno.test("copyImage: memory to a layout and an oci-archive and back, byte for byte", async () => {
  const dir = await Deno.makeTempDir({ prefix: "apt-ostree-copy-" });
  try {
    const { source, index } = await twoPlatformSource();
    const layout = await LayoutSink.open(join(dir, "all.oci"), { tag: "1" });
    await copyImage(source, layout, { all: true });
    const fromLayout = await LayoutSource.open(join(dir, "all.oci"), "1");
    assert.equal((await fromLayout.root()).digest, index.digest);

    const archive = await ArchiveSink.open(join(dir, "all.tar"), "oci-archive", { tag: "1" });
    const back = await copyImage(fromLayout, archive, { all: true });
    assert.equal(back.digest, index.digest);
    const fromArchive = await ArchiveSource.open({ transport: "oci-archive", path: join(dir, "all.tar"), tag: "1" });
    const copy = new MemoryImageStore();
    assert.equal((await copyImage(fromArchive, copy, { all: true })).digest, index.digest);
    assert.equal(sha256Digest((await copy.root()).bytes), index.digest);
    fromArchive.close();

    // A docker-archive holds one image: an index is refused, and nothing is left beside the output.
    const docker = await ArchiveSink.open(join(dir, "all-docker.tar"), "docker");
    await assert.rejects(copyImage(fromLayout, docker, { all: true }), /A docker-archive holds one image/);
    assert.deepEqual((await Array.fromAsync(Deno.readDir(dir), (e) => e.name)).sort(), ["all.oci", "all.tar"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("copyImage: a blob that is a FIFO in a layout is refused at once (no hang)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "apt-ostree-copy-" });
  try {
    const source = new MemoryImageStore("memory:source");
    const raw = await addImage(source, HOST, ["a layer that will be a FIFO"]);
    await source.commit(raw);
    await copyImage(source, await LayoutSink.open(join(dir, "fifo.oci"), { tag: "1" }));
    const layer = JSON.parse(new TextDecoder().decode(raw.bytes)).layers[0].digest.slice("sha256:".length);
    const path = join(dir, "fifo.oci", "blobs", "sha256", layer);
    await Deno.remove(path);
    const made = await new Deno.Command("mkfifo", { args: [path] }).output();
    assert.ok(made.success, "mkfifo");
    const layout = await LayoutSource.open(join(dir, "fifo.oci"), "1");
    await assert.rejects(copyImage(layout, new MemoryImageStore()), /is not a regular file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
