/**
 * apt-ostree: compose Debian and Ubuntu OSTree commits and turn them into
 * OCI container images.
 *
 * This module is the library; run as the main module it is the CLI.
 *
 * @example
 * ```ts
 * import { buildImage } from "./mod.ts";
 * const result = await buildImage({ repo: "repo", source: "main", image: "my-image:latest" });
 * console.log(result.digest);
 * ```
 *
 * @module
 */

export {
  ARCH_METADATA_KEYS,
  buildImage,
  type BuildImageOptions,
  type BuildImageResult,
  type BuildProgress,
  defaultOutputPath,
  IMAGE_FORMATS,
  type ImageFormat,
  type LayerResult,
} from "./src/build/build_image.ts";
export { buildLayer, type BuildLayerOptions, type BuiltLayer } from "./src/build/layer.ts";
export { comparePaths, EXCLUDED_XATTRS, toImageRootfs } from "./src/build/rootfs.ts";
export { type ArchiveFormat, ArchiveTarget } from "./src/archive/layout_archive.ts";
export {
  type Compression,
  COMPRESSIONS,
  createCompressionStream,
  LAYER_MEDIA_TYPES,
} from "./src/compress/compression.ts";
export { DeflatePool } from "./src/compress/deflate_pool.ts";
export { GZIP_BLOCK_SIZE, ParallelGzipStream } from "./src/compress/parallel_gzip.ts";
export { type DigestResult, DigestStream, sha256Digest } from "./src/digest/digest.ts";
export { AptOstreeError, InterruptedError, UsageError } from "./src/errors.ts";
export type { BlobStore, BuiltImage, ImageTarget } from "./src/image_target.ts";
export { DirBlobStore } from "./src/layout/blob_store.ts";
export { isOciLayout, OciLayoutTarget, readLayoutIndex, tagInIndex } from "./src/layout/oci_layout.ts";
export {
  buildImageConfig,
  buildImageManifest,
  type ImageSettings,
  parseKeyValues,
  validateImageSettings,
} from "./src/oci/image_config.ts";
export { hostArch, ociPlatform } from "./src/oci/platform.ts";
export type * from "./src/oci/types.ts";
export { type ContentSource, contentSourceFor } from "./src/ostree/content.ts";
export { type CommitInfo, defaultRepoPath, OstreeRepo, type RepoMode } from "./src/ostree/repo.ts";
export { listCommitTree, type TreeEntry, type Xattr } from "./src/ostree/tree.ts";
export { type ImageReference, parseImageReference } from "./src/reference/image_ref.ts";
export { createLayerTarStream, type LayerEntry } from "./src/tar/layer_tar.ts";
export { encodeTarHeader, type TarHeader } from "./src/tar/tar_header.ts";
export { buildInfo, VERSION } from "./src/version.ts";
export {
  defaultBranchFor,
  IMPORT_METADATA,
  pullImageToBranch,
  type PullOptions,
  type PullProgress,
  type PullResult,
} from "./src/registry/pull.ts";
export {
  collectImage,
  pushImage,
  type PushOptions,
  type PushProgress,
  type PushResult,
  RegistryBlobStore,
  RegistryTarget,
} from "./src/registry/push.ts";
export { RegistryClient, type RegistryOptions, RegistryRepository } from "./src/registry/client.ts";
export { type CredentialOptions, type Credentials, lookupCredentials } from "./src/registry/credentials.ts";
export type { ImageSource } from "./src/source/image_source.ts";
export { openImageSource } from "./src/source/open_source.ts";
export { formatImageLocation, type ImageLocation, parseImageLocation } from "./src/reference/transport.ts";
export { verifyLayout, type VerifyProblem, type VerifyResult } from "./src/layout/verify.ts";
export { runCli } from "./src/cli/main.ts";

if (import.meta.main) {
  const { runCli } = await import("./src/cli/main.ts");
  Deno.exit(await runCli(Deno.args));
}
