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
  buildImage,
  type BuildImageOptions,
  type BuildImageResult,
  type BuildProgress,
  DEFAULT_MAX_LAYERS,
  defaultOutputPath,
  IMAGE_FORMATS,
  type ImageFormat,
  type LayerResult,
} from "./src/builder/build_image.ts";
export {
  buildIndex,
  type BuildIndexOptions,
  type BuildIndexResult,
  type PlatformSource,
} from "./src/builder/build_index.ts";
export { copyImage, type CopyOptions, type CopyProgress, type CopyResult } from "./src/image/copy.ts";
export { openImageSink, openImageSource, type OpenSinkOptions } from "./src/image/open.ts";
export { type ImageVerifyResult, verifyImage, type VerifyImageOptions } from "./src/image/verify.ts";
export { MemoryImageStore } from "./src/image/memory.ts";
export { type SignatureWritten, signImage, type SignOptions } from "./src/sign/sign.ts";
export { type SignaturesResult, verifySignatures, type VerifySignaturesOptions } from "./src/sign/verify.ts";
export { generateCosignKeyPair } from "./src/sign/cosign_key.ts";
export {
  type BlobOpener,
  type BlobStore,
  collectImage,
  type CopyBlobOptions,
  type CopyBlobResult,
  type ImageContents,
  type ImageSink,
  type ImageSource,
  type PutBlobOptions,
  type ResolvedImage,
  resolveImage,
  type StoredImage,
  verifyingStream,
} from "./src/oci/image.ts";
export { parseManifest, type RawManifest, rawManifest } from "./src/oci/manifest.ts";
export { type ImageSettings, validateImageSettings } from "./src/oci/image_config.ts";
export { formatPlatform, hostArch, ociPlatform, parsePlatform } from "./src/oci/platform.ts";
export type * from "./src/oci/types.ts";
export { LayoutSink, type OpenLayoutOptions, readLayoutImages, readLayoutIndex } from "./src/layout/oci_layout.ts";
export { LayoutSource } from "./src/layout/source.ts";
export { verifyLayout, type VerifyOptions, type VerifyProblem, type VerifyResult } from "./src/layout/verify.ts";
export { type ArchiveFormat, ArchiveSink, type OpenArchiveOptions } from "./src/archive/sink.ts";
export { ArchiveSource } from "./src/archive/source.ts";
export { RegistrySink, type RegistrySinkOptions } from "./src/registry/sink.ts";
export { RegistrySource } from "./src/registry/source.ts";
export { type RegistryOptions } from "./src/registry/client.ts";
export { type CredentialOptions, type Credentials, lookupCredentials } from "./src/registry/credentials.ts";
export {
  DEFAULT_MAX_IMAGE_SIZE,
  DEFAULT_MAX_LAYER_SIZE,
  defaultBranchFor,
  pullImageToBranch,
  type PullOptions,
  type PullProgress,
  type PullResult,
} from "./src/import/pull.ts";
export { type CommitInfo, defaultRepoPath, OstreeRepo, type RepoMode } from "./src/ostree/repo.ts";
export { COMMIT_METADATA } from "./src/ostree/metadata.ts";
export { type ReadTreeOptions, TreeEntries, type TreeEntry, type Xattr } from "./src/ostree/tree.ts";
export { type ImageReference, parseImageReference } from "./src/reference/image_ref.ts";
export { formatImageLocation, type ImageLocation, parseImageLocation } from "./src/reference/transport.ts";
export {
  type BaseImageRef,
  debianArch,
  normalizeArch,
  parseBaseBranch,
  parseBaseImageRef,
  type ParseBaseImageRefOptions,
} from "./src/reference/base_ref.ts";
export { bootstrapBase, type BootstrapOptions, type BootstrapResult } from "./src/compose/bootstrap.ts";
export { composeCreate, type ComposeCreateOptions, type ComposeCreateResult } from "./src/compose/create.ts";
export { type ComposeFile, loadComposeFile, mergeImageSettings, parseComposeFile } from "./src/compose/compose_file.ts";
export { type ComposeListing, listCompose, type ListedBase, type ListedDeployment } from "./src/compose/list.ts";
export { type Compression, COMPRESSIONS } from "./src/compress/compression.ts";
export {
  assertLintClean,
  LINT_RULES,
  type LintEntry,
  LintError,
  type LintFinding,
  type LintOptions,
  type LintRule,
  type LintTree,
  lintTree,
} from "./src/bootc/lint.ts";
export {
  type CommitLintResult,
  commitLintTree,
  type ImageLintResult,
  imageLintTree,
  lintCommit,
  lintImage,
} from "./src/bootc/lint_source.ts";
export { AptOstreeError, InterruptedError, renderSolution, UsageError } from "./src/errors.ts";
export { type Progress } from "./src/util/progress.ts";
export { buildInfo, VERSION } from "./src/version.ts";

if (import.meta.main) {
  const { runCli } = await import("./src/cli/main.ts");
  Deno.exit(await runCli(Deno.args));
}
