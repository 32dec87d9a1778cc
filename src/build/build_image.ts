/**
 * `buildImage`: an OSTree commit to an OCI image in a layout directory, a
 * docker-archive or an oci-archive. Reads top to bottom as the pipeline
 * does: resolve the commit → list its tree → map it to the image root →
 * stream the layer into the target's blob store → config, manifest →
 * commit the target (or abort it, leaving the destination untouched).
 *
 * @module
 */

import { resolve } from "node:path";
import { ArchiveTarget } from "../archive/layout_archive.ts";
import { type Compression, COMPRESSIONS } from "../compress/compression.ts";
import { defaultWorkerCount, DeflatePool } from "../compress/deflate_pool.ts";
import { UsageError } from "../errors.ts";
import type { ImageTarget } from "../image_target.ts";
import { OciLayoutTarget } from "../layout/oci_layout.ts";
import {
  buildImageConfig,
  buildImageManifest,
  type ImageSettings,
  jsonBytes,
  validateImageSettings,
} from "../oci/image_config.ts";
import { hostArch, ociPlatform } from "../oci/platform.ts";
import { type Descriptor, MEDIA_TYPE_MANIFEST, type Platform } from "../oci/types.ts";
import { contentSourceFor } from "../ostree/content.ts";
import { type CommitInfo, OstreeRepo } from "../ostree/repo.ts";
import { listCommitTree } from "../ostree/tree.ts";
import { type ImageReference, lastNameComponent, parseImageReference } from "../reference/image_ref.ts";
import { newTarStats, type TarStats } from "../tar/layer_tar.ts";
import { buildLayer } from "./layer.ts";
import { toImageRootfs } from "./rootfs.ts";

/** Output formats of `build-image`. */
export type ImageFormat = "oci" | "oci-archive" | "docker";

/** All output formats, for validation and help. */
export const IMAGE_FORMATS: readonly ImageFormat[] = ["oci", "oci-archive", "docker"];

/** Commit metadata keys that may name the architecture, in order of preference. */
export const ARCH_METADATA_KEYS: readonly string[] = ["apt-ostree.arch", "ostree.arch", "arch", "architecture"];

/** Progress of a build, reported a few times a second. */
export interface BuildProgress {
  /** What is happening. */
  phase: "listing" | "layers" | "finishing";
  /** Entries written so far. */
  entries: number;
  /** Entries in the tree. */
  totalEntries: number;
  /** File content bytes written so far. */
  contentBytes: number;
  /** File content bytes in the tree. */
  totalBytes: number;
  /** Milliseconds since the build started. */
  elapsedMs: number;
}

/** Options for {@linkcode buildImage}. */
export interface BuildImageOptions {
  /** The OSTree repository (path or opened). */
  repo: string | OstreeRepo;
  /** Branch, ref, commit checksum or unique checksum prefix. */
  source: string;
  /** Image reference `name[:tag]` to tag the image as. */
  image: string;
  /** Output format (default `oci`). */
  format?: ImageFormat;
  /** Output path (default `./<name>.oci` or `./<name>.tar`). */
  output?: string;
  /** Replace an output path that exists and is not a layout. */
  force?: boolean;
  /** Layer compression (default gzip). */
  compression?: Compression;
  /** Runtime settings of the image. */
  settings?: ImageSettings;
  /** Architecture override (any common naming). */
  arch?: string;
  /** Creation time; default: the commit's timestamp. */
  created?: Date;
  /** Resolve and plan only; write nothing. */
  dryRun?: boolean;
  /** Compression workers (default: one per CPU). Output does not depend on it. */
  workers?: number;
  /** Cancels the build; everything written so far is removed. */
  signal?: AbortSignal;
  /** Called with progress a few times a second. */
  onProgress?: (progress: BuildProgress) => void;
}

/** A layer of the result. */
export interface LayerResult {
  /** Media type. */
  mediaType: string;
  /** Digest of the compressed blob. */
  digest: string;
  /** Size of the compressed blob. */
  size: number;
  /** Digest of the uncompressed tar. */
  diffId: string;
}

/** What {@linkcode buildImage} did (or, for a dry run, would do). */
export interface BuildImageResult {
  /** Whether this was a dry run (nothing written). */
  dryRun: boolean;
  /** The commit checksum built from. */
  commit: string;
  /** The image reference, normalised (`docker.io/library/name:tag`). */
  image: string;
  /** Output format. */
  format: ImageFormat;
  /** Absolute output path. */
  output: string;
  /** Manifest digest (absent in a dry run). */
  digest?: string;
  /** Config descriptor (absent in a dry run). */
  config?: Descriptor;
  /** Layers (absent in a dry run). */
  layers?: LayerResult[];
  /** Platform of the image. */
  platform: Platform;
  /** Creation time, RFC 3339. */
  created: string;
  /** Entries in the image's tree. */
  entries: number;
  /** Bytes of file content in the tree. */
  contentBytes: number;
}

/**
 * The default output path for an image: `./<last name component>.oci` for
 * layouts, `.tar` for archives.
 *
 * @example
 * ```ts
 * import { defaultOutputPath } from "./build_image.ts";
 * import { parseImageReference } from "../reference/image_ref.ts";
 * defaultOutputPath(parseImageReference("registry.example.com/team/web:1"), "docker"); // "web.tar"
 * ```
 */
export function defaultOutputPath(ref: ImageReference, format: ImageFormat): string {
  return `${lastNameComponent(ref)}${format === "oci" ? ".oci" : ".tar"}`;
}

function commitArch(commit: CommitInfo): string | undefined {
  for (const key of ARCH_METADATA_KEYS) {
    const value = commit.metadata.get(key);
    if (typeof value === "string" && value.length > 0) return value;
  }
  return undefined;
}

function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.000Z$/, "Z");
}

function validateOptions(
  options: BuildImageOptions,
): { ref: ImageReference; format: ImageFormat; compression: Compression } {
  const format = options.format ?? "oci";
  if (!IMAGE_FORMATS.includes(format)) {
    throw new UsageError(`Unknown format: ${format}`, { solution: `Use --format ${IMAGE_FORMATS.join(", ")}` });
  }
  const compression = options.compression ?? "gzip";
  if (!COMPRESSIONS.includes(compression)) {
    throw new UsageError(`Unknown compression: ${compression}`, {
      solution: `Use --compression ${COMPRESSIONS.join(" or ")}`,
    });
  }
  const ref = parseImageReference(options.image);
  if (ref.digest !== undefined) {
    throw new UsageError(`Cannot build into a digest reference: ${options.image}`, {
      solution: "Name the image with a tag (name:tag); the digest is computed from the content",
    });
  }
  validateImageSettings(options.settings ?? {});
  if (options.created !== undefined && Number.isNaN(options.created.getTime())) {
    throw new UsageError("Invalid creation time", { solution: "Set SOURCE_DATE_EPOCH to whole seconds since 1970" });
  }
  return { ref, format, compression };
}

function openTarget(format: ImageFormat, output: string, force: boolean): Promise<ImageTarget> {
  if (format === "oci") return OciLayoutTarget.open(output, { force });
  return ArchiveTarget.open(output, format, { force });
}

/**
 * Builds an image from an OSTree commit.
 *
 * @example
 * ```ts
 * import { buildImage } from "./build_image.ts";
 * const result = await buildImage({
 *   repo: "/var/lib/apt-ostree/repo",
 *   source: "my-deployment",
 *   image: "my-image:latest",
 *   format: "oci",
 * });
 * console.log(result.digest, result.output);
 * ```
 */
export async function buildImage(options: BuildImageOptions): Promise<BuildImageResult> {
  const started = performance.now();
  const { ref, format, compression } = validateOptions(options);
  const signal = options.signal;
  const repo = typeof options.repo === "string" ? await OstreeRepo.open(options.repo) : options.repo;
  const commitChecksum = await repo.resolveCommit(options.source, { signal });
  const commit = await repo.readCommit(commitChecksum, { signal });
  const platform = ociPlatform(options.arch ?? commitArch(commit) ?? hostArch());
  const created = options.created ?? new Date(commit.timestamp * 1000);
  const output = resolve(options.output ?? defaultOutputPath(ref, format));
  const settings = options.settings ?? {};

  const stats: TarStats = newTarStats();
  let phase: BuildProgress["phase"] = "listing";
  let totalEntries = 0;
  let totalBytes = 0;
  const report = () =>
    options.onProgress?.({
      phase,
      entries: stats.entries,
      totalEntries,
      contentBytes: stats.contentBytes,
      totalBytes,
      elapsedMs: performance.now() - started,
    });

  const entries = toImageRootfs(await listCommitTree(repo, commitChecksum, { signal }));
  totalEntries = entries.length;
  for (const e of entries) totalBytes += e.size;

  const base: BuildImageResult = {
    dryRun: options.dryRun === true,
    commit: commitChecksum,
    image: ref.fullName,
    format,
    output,
    platform,
    created: rfc3339(created),
    entries: totalEntries,
    contentBytes: totalBytes,
  };
  if (options.dryRun) return base;

  signal?.throwIfAborted();
  const target = await openTarget(format, output, options.force === true);
  const pool = new DeflatePool(options.workers ?? defaultWorkerCount());
  const timer = options.onProgress ? setInterval(report, 200) : undefined;
  try {
    phase = "layers";
    report();
    const layer = await buildLayer(entries, contentSourceFor(repo), target.blobs, {
      compression,
      pool,
      signal,
      stats,
    });
    phase = "finishing";
    report();

    const labels: Record<string, string> = { "ostree.commit": commitChecksum };
    if (commit.version !== undefined) labels["org.opencontainers.image.version"] = commit.version;
    const config = buildImageConfig({
      platform,
      created,
      settings,
      labels,
      diffIds: [layer.diffId],
      history: [{
        created_by: `apt-ostree compose build-image ${commitChecksum}`,
        comment: commit.subject || undefined,
      }],
    });
    const configBlob = await target.blobs.putBytes(jsonBytes(config));
    const annotations: Record<string, string> = {
      "org.opencontainers.image.created": rfc3339(created),
      "org.opencontainers.image.revision": commitChecksum,
      ...(commit.version !== undefined ? { "org.opencontainers.image.version": commit.version } : {}),
      ...(settings.annotations ?? {}),
    };
    const manifest = buildImageManifest(
      { mediaType: "", digest: configBlob.digest, size: configBlob.size },
      [layer.descriptor],
      annotations,
    );
    const manifestBlob = await target.blobs.putBytes(jsonBytes(manifest));
    const descriptor: Descriptor = {
      mediaType: MEDIA_TYPE_MANIFEST,
      digest: manifestBlob.digest,
      size: manifestBlob.size,
    };
    signal?.throwIfAborted();
    await target.commit({ ref, manifest, descriptor });
    return {
      ...base,
      digest: manifestBlob.digest,
      config: manifest.config,
      layers: [{ ...layer.descriptor, diffId: layer.diffId }].map((l) => ({
        mediaType: l.mediaType,
        digest: l.digest,
        size: l.size,
        diffId: l.diffId,
      })),
    };
  } catch (error) {
    await target.abort();
    throw signal?.aborted ? signal.reason : error;
  } finally {
    if (timer !== undefined) clearInterval(timer);
    pool.terminate();
  }
}
