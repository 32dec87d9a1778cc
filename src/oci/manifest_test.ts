import assert from "node:assert/strict";
import {
  layerCompression,
  MEDIA_TYPE_DOCKER_LIST,
  parseManifest,
  rawManifest,
  selectPlatform,
  sniffCompression,
} from "./manifest.ts";
import type { ImageIndex } from "./types.ts";

const d = (n: string) => "sha256:" + n.repeat(64);
const manifestType = "application/vnd.oci.image.manifest.v1+json";

Deno.test("manifest: parsing, media types from the JSON or the shape, schema 1 refused", () => {
  const index = rawManifest(new TextEncoder().encode('{"schemaVersion":2,"manifests":[]}'));
  assert.equal(parseManifest(index, "x").kind, "index");
  const list = rawManifest(new TextEncoder().encode('{"schemaVersion":2,"manifests":[]}'), MEDIA_TYPE_DOCKER_LIST);
  assert.equal(list.mediaType, MEDIA_TYPE_DOCKER_LIST);
  const v1 = rawManifest(new TextEncoder().encode('{"schemaVersion":1,"fsLayers":[]}'), "application/json");
  assert.throws(() => parseManifest(v1, "old:1"), /schema 1 image/);
  const broken = rawManifest(
    new TextEncoder().encode(`{"schemaVersion":2,"mediaType":"${manifestType}","config":{},"layers":[]}`),
  );
  assert.throws(() => parseManifest(broken, "x"), /bad config descriptor/);
});

Deno.test("manifest: platform selection", () => {
  const index: ImageIndex = {
    schemaVersion: 2,
    manifests: [
      { mediaType: manifestType, digest: d("1"), size: 1, platform: { architecture: "amd64", os: "linux" } },
      {
        mediaType: manifestType,
        digest: d("2"),
        size: 1,
        platform: { architecture: "arm", os: "linux", variant: "v6" },
      },
      {
        mediaType: manifestType,
        digest: d("3"),
        size: 1,
        platform: { architecture: "arm", os: "linux", variant: "v7" },
      },
      { mediaType: manifestType, digest: d("4"), size: 1, platform: { architecture: "unknown", os: "unknown" } },
    ],
  };
  assert.equal(selectPlatform(index, { architecture: "amd64", os: "linux" }, "x").digest, d("1"));
  assert.equal(selectPlatform(index, { architecture: "arm", os: "linux", variant: "v7" }, "x").digest, d("3"));
  assert.throws(
    () => selectPlatform(index, { architecture: "s390x", os: "linux" }, "img"),
    /img has no image for linux\/s390x \(it has: linux\/amd64, linux\/arm\/v6, linux\/arm\/v7\)/,
  );
});

Deno.test("manifest: layer compression", () => {
  assert.equal(layerCompression("application/vnd.oci.image.layer.v1.tar+gzip"), "gzip");
  assert.equal(layerCompression("application/vnd.docker.image.rootfs.diff.tar.gzip"), "gzip");
  assert.equal(layerCompression("application/vnd.oci.image.layer.v1.tar+zstd"), "zstd");
  assert.equal(layerCompression("application/vnd.oci.image.layer.v1.tar"), "none");
  assert.equal(layerCompression("application/octet-stream"), undefined);
  assert.equal(sniffCompression(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd])), "zstd");
  assert.equal(sniffCompression(new TextEncoder().encode("usr/")), "none");
});
