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
import { type Compression, COMPRESSIONS, DEFAULT_LEVELS, LEVEL_RANGES } from "../compress/compression.ts";
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
import { type ImageReference, lastNameComponent, parseImageReference } from "../reference/image_ref.ts";
import { newTarStats, type TarStats } from "../tar/layer_tar.ts";
import { buildLayer } from "./layer.ts";
import { toImageRootfs } from "./rootfs.ts";
import { readDpkgOwners } from "../layers/dpkg_owners.ts";
import { LAYER_FORMAT_VERSION, layerKey } from "../layers/layer_key.ts";
import { pathPrefixUnit, planLayers, type PlannedLayer } from "../layers/layer_plan.ts";
import {
  ANNOTATION_BUILD,
  ANNOTATION_LAYER_BIN,
  ANNOTATION_LAYER_KEY,
  ANNOTATION_LAYER_UNITS,
  ANNOTATION_MAX_LAYERS,
  type CachedLayer,
  imageWithFingerprint,
  layerCache,
  previousBins,
} from "../layers/previous_build.ts";
import type { LayoutImage } from "../layout/oci_layout.ts";
import { sha256Digest } from "../digest/digest.ts";
import { mapLimit } from "../util/concurrency.ts";
import { phaseTimer } from "../util/phase_timer.ts";

/** Output formats of `build-image`. */
export type ImageFormat = "oci" | "oci-archive" | "docker";

/** All output formats, for validation and help. */
export const IMAGE_FORMATS: readonly ImageFormat[] = ["oci", "oci-archive", "docker"];

/** Commit metadata keys that may name the architecture, in order of preference. */
export const ARCH_METADATA_KEYS: readonly string[] = ["apt-ostree.arch", "ostree.arch", "arch", "architecture"];

/** Default most layers per image: rpm-ostree's and bootc's chunking default, well under containerd's 127. */
export const DEFAULT_MAX_LAYERS = 64;

/**
 * Version of the image encoding as a whole (config and manifest layout,
 * layer planning). Part of the build fingerprint: bump it when the same
 * inputs would give a different image.
 */
export const IMAGE_FORMAT_VERSION = 1;

/** Progress of a build, reported a few times a second. */
export interface BuildProgress {
  /** What is happening. */
  phase: "listing" | "layers" | "finishing";
  /** Entries written so far. */
  entries: number;
  /** Entries in the tree. */
  totalEntries: number;
  /** File content bytes written (or reused) so far. */
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
  /** Compression level (gzip 1-9, default 6; zstd 1-19, default 3). */
  compressionLevel?: number;
  /** Most layers (default {@linkcode DEFAULT_MAX_LAYERS}; 1 gives a single layer). */
  maxLayers?: number;
  /** Runtime settings of the image. */
  settings?: ImageSettings;
  /** Architecture override (any common naming). */
  arch?: string;
  /** Creation time; default: the commit's timestamp. */
  created?: Date;
  /** Resolve and plan only; write nothing. */
  dryRun?: boolean;
  /** Compression threads, the calling one included (default: one per CPU). Output does not depend on it. */
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
  /** The layer's bin: `base`, `unit:<package>`, `bin:<k>` or `new`. */
  bin?: string;
  /** Whether an existing blob was reused instead of writing the layer. */
  reused: boolean;
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
  /** Layers (planned ones, without digests, in a dry run). */
  layers?: LayerResult[];
  /** Layers planned in a dry run: bin, entries and content bytes. */
  plannedLayers?: { bin: string; entries: number; contentBytes: number }[];
  /** Whether an identical image already in the layout was reused as a whole. */
  reusedImage: boolean;
  /** Platform of the image. */
  platform: Platform;
  /** Creation time, RFC 3339. */
  created: string;
  /** Entries in the image's tree (absent when a whole image was reused). */
  entries?: number;
  /** Bytes of file content in the tree (absent when a whole image was reused). */
  contentBytes?: number;
  /** Seconds spent in each phase: resolve, list, plan, layers, finish. */
  durations: Record<string, number>;
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

interface ValidOptions {
  ref: ImageReference;
  format: ImageFormat;
  compression: Compression;
  level: number;
  maxLayers: number;
}

function validateOptions(options: BuildImageOptions): ValidOptions {
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
  const level = options.compressionLevel ?? DEFAULT_LEVELS[compression];
  const [low, high] = LEVEL_RANGES[compression];
  if (!Number.isInteger(level) || level < low || level > high) {
    throw new UsageError(`Invalid ${compression} compression level: ${level}`, {
      solution: `Use --compression-level from ${low} to ${high} with ${compression}`,
    });
  }
  const maxLayers = options.maxLayers ?? DEFAULT_MAX_LAYERS;
  if (!Number.isInteger(maxLayers) || maxLayers < 1 || maxLayers > 127) {
    throw new UsageError(`Invalid maximum layer count: ${maxLayers}`, {
      solution: "Use --max-layers with a whole number from 1 to 127 (containerd's limit)",
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
  return { ref, format, compression, level, maxLayers };
}

function openTarget(format: ImageFormat, output: string, force: boolean, repoPath: string): Promise<ImageTarget> {
  const protect = [{ path: repoPath, what: "the OSTree repository (--repo)" }];
  if (format === "oci") return OciLayoutTarget.open(output, { force, protect });
  return ArchiveTarget.open(output, format, { force, protect });
}

/**
 * The fingerprint of a build: every input that decides the image. Two
 * builds with equal fingerprints give the same image.
 */
function buildFingerprint(input: {
  commit: string;
  compression: Compression;
  level: number;
  maxLayers: number;
  settings: ImageSettings;
  platform: Platform;
  created: string;
}): string {
  return sha256Digest(
    new TextEncoder().encode(JSON.stringify({ v: IMAGE_FORMAT_VERSION, layer: LAYER_FORMAT_VERSION, ...input })),
  );
}

/** Layer descriptor annotations that let later builds reuse the layer and keep its bin. */
function layerAnnotations(layer: PlannedLayer, key: string): Record<string, string> {
  return {
    [ANNOTATION_LAYER_BIN]: layer.id,
    [ANNOTATION_LAYER_KEY]: key,
    [ANNOTATION_LAYER_UNITS]: JSON.stringify(layer.units),
  };
}

async function allBlobsPresent(target: ImageTarget, image: LayoutImage): Promise<boolean> {
  const digests = [
    image.descriptor.digest,
    image.manifest.config.digest,
    ...image.manifest.layers.map((l) => l.digest),
  ];
  for (const digest of digests) if (!(await target.blobs.has(digest))) return false;
  return true;
}

function layerResults(image: LayoutImage, reused: boolean): LayerResult[] {
  return image.manifest.layers.map((l, i) => ({
    mediaType: l.mediaType,
    digest: l.digest,
    size: l.size,
    diffId: image.config.rootfs.diff_ids[i],
    bin: l.annotations?.[ANNOTATION_LAYER_BIN],
    reused,
  }));
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
  const phases = phaseTimer();
  phases.start("resolve");
  const { ref, format, compression, level, maxLayers } = validateOptions(options);
  const signal = options.signal;
  const repo = typeof options.repo === "string" ? await OstreeRepo.open(options.repo) : options.repo;
  const commitChecksum = await repo.resolveCommit(options.source, { signal });
  const commit = await repo.readCommit(commitChecksum, { signal });
  const platform = ociPlatform(options.arch ?? commitArch(commit) ?? hostArch());
  const created = rfc3339(options.created ?? new Date(commit.timestamp * 1000));
  const output = resolve(options.output ?? defaultOutputPath(ref, format));
  const settings = options.settings ?? {};
  const fingerprint = buildFingerprint({
    commit: commitChecksum,
    compression,
    level,
    maxLayers,
    settings,
    platform,
    created,
  });
  const base = {
    commit: commitChecksum,
    image: ref.fullName,
    format,
    output,
    platform,
    created,
  };

  const stats: TarStats = newTarStats();
  let phase: BuildProgress["phase"] = "listing";
  let totalEntries = 0;
  let totalBytes = 0;
  let reusedBytes = 0;
  let reusedEntries = 0;
  const report = () =>
    options.onProgress?.({
      phase,
      entries: stats.entries + reusedEntries,
      totalEntries,
      contentBytes: stats.contentBytes + reusedBytes,
      totalBytes,
      elapsedMs: performance.now() - started,
    });

  const content = contentSourceFor(repo);
  const planTree = async (previous: LayoutImage[]): Promise<PlannedLayer[]> => {
    phases.start("list");
    const listed = await repo.readTree(commitChecksum, { signal });
    const entries = toImageRootfs(listed);
    totalEntries = entries.length;
    for (const e of entries) totalBytes += e.size;
    phases.start("plan");
    const owners = maxLayers > 1 ? await readDpkgOwners(entries, content) : undefined;
    return planLayers(entries, {
      maxLayers,
      unitOf: owners ? (path) => owners.get(path) : pathPrefixUnit,
      previous: previousBins(previous, ref, maxLayers),
    });
  };

  if (options.dryRun) {
    const plan = await planTree([]);
    return {
      ...base,
      dryRun: true,
      reusedImage: false,
      entries: totalEntries,
      contentBytes: totalBytes,
      plannedLayers: plan.map((l) => ({ bin: l.id, entries: l.entries.length, contentBytes: l.contentBytes })),
      durations: phases.finish(3),
    };
  }

  signal?.throwIfAborted();
  const target = await openTarget(format, output, options.force === true, repo.path);
  const pool = new DeflatePool(options.workers ?? defaultWorkerCount());
  const progressTimer = options.onProgress ? setInterval(report, 200) : undefined;
  try {
    const previous = target instanceof OciLayoutTarget ? await target.existingImages() : [];

    // Nothing changed since an earlier build: tag that image again.
    const same = imageWithFingerprint(previous, fingerprint);
    if (same && (await allBlobsPresent(target, same))) {
      await target.commit({ ref, manifest: same.manifest, descriptor: same.descriptor });
      return {
        ...base,
        dryRun: false,
        reusedImage: true,
        digest: same.descriptor.digest,
        config: same.manifest.config,
        layers: layerResults(same, true),
        durations: phases.finish(3),
      };
    }

    const plan = await planTree(previous);
    const cache = layerCache(previous);
    phases.start("layers");
    phase = "layers";
    report();
    const layers = await mapLimit(
      plan,
      Math.max(2, pool.size),
      async (layer): Promise<CachedLayer & { reused: boolean }> => {
        const key = layerKey(layer.entries, compression, level);
        const annotations = layerAnnotations(layer, key);
        const cached = cache.get(key);
        if (cached && (await target.blobs.has(cached.descriptor.digest))) {
          reusedBytes += layer.contentBytes;
          reusedEntries += layer.entries.length;
          return { descriptor: { ...cached.descriptor, annotations }, diffId: cached.diffId, reused: true };
        }
        const built = await buildLayer(layer.entries, content, target.blobs, {
          compression,
          level,
          pool,
          signal,
          stats,
          annotations,
        });
        return { descriptor: built.descriptor, diffId: built.diffId, reused: false };
      },
    );
    phase = "finishing";
    phases.start("finish");
    report();

    const labels: Record<string, string> = { "ostree.commit": commitChecksum };
    if (commit.version !== undefined) labels["org.opencontainers.image.version"] = commit.version;
    const config = buildImageConfig({
      platform,
      created: new Date(created),
      settings,
      labels,
      diffIds: layers.map((l) => l.diffId),
      history: layers.map((_, i) => ({
        created_by: `apt-ostree compose build-image ${commitChecksum}` +
          (layers.length > 1 ? ` (layer ${plan[i].id})` : ""),
        comment: i === 0 && commit.subject ? commit.subject : undefined,
      })),
    });
    const configBlob = await target.blobs.putBytes(jsonBytes(config));
    const annotations: Record<string, string> = {
      "org.opencontainers.image.created": created,
      "org.opencontainers.image.revision": commitChecksum,
      ...(commit.version !== undefined ? { "org.opencontainers.image.version": commit.version } : {}),
      [ANNOTATION_BUILD]: fingerprint,
      [ANNOTATION_MAX_LAYERS]: String(maxLayers),
      ...(settings.annotations ?? {}),
    };
    const manifest = buildImageManifest(
      { mediaType: "", digest: configBlob.digest, size: configBlob.size },
      layers.map((l) => l.descriptor),
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
      dryRun: false,
      reusedImage: false,
      digest: manifestBlob.digest,
      config: manifest.config,
      layers: layers.map((l, i) => ({
        mediaType: l.descriptor.mediaType,
        digest: l.descriptor.digest,
        size: l.descriptor.size,
        diffId: l.diffId,
        bin: plan[i].id,
        reused: l.reused,
      })),
      entries: totalEntries,
      contentBytes: totalBytes,
      durations: phases.finish(3),
    };
  } catch (error) {
    await target.abort();
    throw signal?.aborted ? signal.reason : error;
  } finally {
    if (progressTimer !== undefined) clearInterval(progressTimer);
    pool.terminate();
  }
}
