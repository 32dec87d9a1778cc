/**
 * apt-ostree: compose Debian and Ubuntu OSTree commits and turn them into
 * OCI container images.
 *
 * This module is the library; run as the main module it is the CLI (which
 * `cli.ts`, the entry of `deno task cli` and of the binary, runs without
 * loading the library first).
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
  DEFAULT_MAX_LAYERS,
  defaultOutputPath,
  IMAGE_FORMAT_VERSION,
  IMAGE_FORMATS,
  type ImageFormat,
  type LayerResult,
} from "./src/builder/build_image.ts";
export { buildLayer, type BuildLayerOptions, type BuiltLayer } from "./src/builder/layer.ts";
export { comparePaths, EXCLUDED_XATTRS, toImageRootfs } from "./src/builder/rootfs.ts";
export { DPKG_INFO_DIRS, readDpkgOwners } from "./src/layers/dpkg_owners.ts";
export { LAYER_FORMAT_VERSION, layerKey } from "./src/layers/layer_key.ts";
export { type LayerBin, pathPrefixUnit, planLayers, type PlannedLayer } from "./src/layers/layer_plan.ts";
export { ZstdWorkerStream } from "./src/compress/zstd_stream.ts";
export { type ArchiveFormat, ArchiveSink } from "./src/archive/sink.ts";
export { ArchiveSource } from "./src/archive/source.ts";
export { LayoutSource } from "./src/layout/source.ts";
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
export { DirBlobStore } from "./src/layout/blob_store.ts";
export { isOciLayout, LayoutSink, readLayoutImages, readLayoutIndex, tagInIndex } from "./src/layout/oci_layout.ts";
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
export { readCommitTree, type ReadTreeOptions, type TreeEntry, type Xattr } from "./src/ostree/tree.ts";
export { type ImageReference, parseImageReference } from "./src/reference/image_ref.ts";
export {
  type BaseImageRef,
  debianArch,
  normalizeArch,
  parseBaseBranch,
  parseBaseImageRef,
  type ParseBaseImageRefOptions,
} from "./src/reference/base_ref.ts";
export {
  bootstrapBase,
  type BootstrapOptions,
  type BootstrapResult,
  mmdebstrapArgs,
  planBootstrap,
} from "./src/compose/bootstrap.ts";
export {
  aptInstallCommand,
  composeCreate,
  type ComposeCreateOptions,
  type ComposeCreateResult,
  parseAptSimulation,
} from "./src/compose/create.ts";
export { type ComposeFile, loadComposeFile, mergeImageSettings, parseComposeFile } from "./src/compose/compose_file.ts";
export { type ComposeListing, listCompose, type ListedBase, type ListedDeployment } from "./src/compose/list.ts";
export { deriveOutputBranch, validateOutputBranch, validatePackageNames } from "./src/compose/packages.ts";
export { defaultRemote, listRemotes, pullBranch, remoteBranches } from "./src/compose/remote.ts";
export { resolveBase, type ResolveBaseOptions, type ResolvedBase } from "./src/compose/resolve_base.ts";
export { cleanRootfs, fromDeploymentLayout, toDeploymentLayout } from "./src/compose/rootfs_cleanup.ts";
export { prepareSandboxRoot, runInSandbox, sandboxArgs } from "./src/compose/sandbox.ts";
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
} from "./src/import/pull.ts";
export { RegistryBlobStore, RegistrySink, type RegistrySinkOptions } from "./src/registry/sink.ts";
export { RegistrySource } from "./src/registry/source.ts";
export { copyImage, type CopyOptions, type CopyProgress, type CopyResult } from "./src/image/copy.ts";
export { RegistryClient, type RegistryOptions, RegistryRepository } from "./src/registry/client.ts";
export { type CredentialOptions, type Credentials, lookupCredentials } from "./src/registry/credentials.ts";
export {
  type BlobStore,
  collectImage,
  type ImageSink,
  type ImageSource,
  resolveImage,
  type StoredImage,
  verifyingStream,
} from "./src/oci/image.ts";
export { openImageSink, openImageSource, type OpenSinkOptions } from "./src/image/open.ts";
export { formatImageLocation, type ImageLocation, parseImageLocation } from "./src/reference/transport.ts";
export { verifyLayout, type VerifyProblem, type VerifyResult } from "./src/layout/verify.ts";
export { runCli } from "./src/cli/main.ts";
export { buildProgram } from "./src/cli/program.ts";

if (import.meta.main) {
  const { runCli } = await import("./src/cli/main.ts");
  Deno.exit(await runCli(Deno.args));
}
