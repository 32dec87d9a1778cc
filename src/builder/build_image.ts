/**
 * `buildImage`: an OSTree commit to an OCI image in any image sink: a
 * layout directory, a docker-archive, an oci-archive or a registry. Reads
 * top to bottom as the pipeline does: resolve the commit → list its tree →
 * map it to the image root → stream the layers into the sink's blob store
 * (reusing those of the sink's previous build) → config, manifest → commit
 * the sink (or abort it, leaving the destination untouched).
 *
 * @module
 */

import { resolve } from "node:path";
import { type Compression, COMPRESSIONS, DEFAULT_LEVELS, LEVEL_RANGES } from "../compress/compression.ts";
import { defaultWorkerCount, DeflatePool } from "../compress/deflate_pool.ts";
import { UsageError } from "../errors.ts";
import { openImageSink } from "../image/open.ts";
import type { ImageSink, StoredImage } from "../oci/image.ts";
import { rawDescriptor, type RawManifest, rawManifest } from "../oci/manifest.ts";
import { ANNOTATION_CREATED, artifactManifest } from "../oci/referrers.ts";
import { attachArtifact, type AttachResult } from "../image/referrers.ts";
import { attachedSboms } from "./attached.ts";
import { commitSbom } from "../sbom/commit.ts";
import { SBOM_MEDIA_TYPES, type SbomFormat } from "../sbom/documents.ts";
import { BufferPool } from "../util/buffer_pool.ts";
import { collectGarbage } from "../util/gc.ts";
import { GZIP_BLOCK_SIZE } from "../compress/parallel_gzip.ts";
import type { TreeEntries } from "../ostree/tree.ts";
import type { RegistrySinkOptions } from "../registry/sink.ts";
import {
  formatImageLocation,
  type ImageLocation,
  isImageLocation,
  parseImageLocation,
} from "../reference/transport.ts";
import {
  buildImageConfig,
  buildImageManifest,
  checkImageJsonSize,
  type ImageSettings,
  jsonBytes,
  validateImageSettings,
} from "../oci/image_config.ts";
import { hostArch, ociPlatform, samePlatform } from "../oci/platform.ts";
import { ANNOTATION_CONTAINERD_NAME, type Descriptor, MEDIA_TYPE_MANIFEST, type Platform } from "../oci/types.ts";
import { contentSourceFor } from "../ostree/content.ts";
import { type CommitInfo, OstreeRepo } from "../ostree/repo.ts";
import { type ImageReference, lastNameComponent, parseImageReference } from "../reference/image_ref.ts";
import { newTarStats, type TarStats } from "../tar/layer_tar.ts";
import { buildLayer, type BuildLayerOptions, type BuiltLayer } from "./layer.ts";
import { assertLintClean, checkLintRuleNames, type LintFinding } from "../bootc/lint.ts";
import { treeLintTree } from "../bootc/lint_source.ts";
import { BOOTC_LABELS, bootcContent, COMMIT_LAYER_ID, planOstreeContainer, treeKernels } from "../bootc/layers.ts";
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
import { sha256Digest } from "../digest/digest.ts";
import { mapLimit } from "../util/concurrency.ts";
import { phaseTimer } from "../util/phase_timer.ts";
import { type Progress, progressTicker } from "../util/progress.ts";
import { COMMIT_METADATA } from "../ostree/metadata.ts";

/** Output formats of `build-image` for a path (a location such as `docker://…` names its own). */
export type ImageFormat = "oci" | "oci-archive" | "docker";

/** All output formats, for validation and help. */
export const IMAGE_FORMATS: readonly ImageFormat[] = ["oci", "oci-archive", "docker"];

/** Commit metadata keys that may name the architecture, in order of preference. */
export const ARCH_METADATA_KEYS: readonly string[] = [COMMIT_METADATA.arch, "ostree.arch", "arch", "architecture"];

/** Default most layers per image: rpm-ostree's and bootc's chunking default, well under containerd's 127. */
export const DEFAULT_MAX_LAYERS = 64;

/**
 * Version of the image encoding as a whole (config and manifest layout,
 * layer planning). Part of the build fingerprint: bump it when the same
 * inputs would give a different image.
 */
export const IMAGE_FORMAT_VERSION = 1;

/**
 * Progress of a build: phase `listing`, `layers` or `finishing`; bytes of
 * file content written (or reused) of all; files of all.
 */
export type BuildProgress = Progress;

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
  /**
   * Output path (default `./<name>.oci` or `./<name>.tar`), or a location
   * with a transport: `oci:PATH[:TAG]`, `oci-archive:PATH[:TAG]`,
   * `docker-archive:PATH`, `docker://HOST/NAME:TAG` (then `format` is
   * taken from it).
   */
  output?: string;
  /** How to reach the registry of a `docker://` output. */
  registry?: RegistrySinkOptions;
  /** Write into this sink instead of opening `output` (it is closed when the build ends). */
  sink?: ImageSink;
  /** Allow zstd layers in a docker-archive (which Docker before 23.0 cannot load). */
  allowZstdDocker?: boolean;
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
  /**
   * Write the ostree-native (bootc) format: the commit's own objects, so that
   * a host pulls the very same commit. Default: on for a commit with a
   * kernel under `/usr/lib/modules`.
   */
  bootc?: boolean;
  /** bootc lint rules not to run on an ostree-native image (fatal findings stop the build). */
  lintSkip?: string[];
  /** Architecture override (any common naming). */
  arch?: string;
  /** Creation time; default: the commit's timestamp. */
  created?: Date;
  /**
   * SBOMs to make from the commit's dpkg database and attach to the image as
   * OCI referrers (an OCI layout or a registry).
   */
  sbom?: SbomFormat[];
  /**
   * The SBOMs are the default, not asked for: a commit without a dpkg
   * database, or an output that cannot hold referrers (a docker-archive),
   * gets none (said in `sbomSkipped`) instead of an error.
   */
  sbomOptional?: boolean;
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
  /** Output format (`registry` for a `docker://` output). */
  format: ImageFormat | "registry";
  /** Absolute output path, or the `docker://` location. */
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
  /** Whether the image is in the ostree-native (bootc) format. */
  bootc: boolean;
  /** Kernel version of a bootable commit (`ostree.linux`). */
  kernel?: string;
  /** Warnings of bootc's lint rules for an ostree-native image (fatal findings stop the build). */
  lintWarnings?: LintFinding[];
  /** Creation time, RFC 3339. */
  created: string;
  /** The SBOMs attached to the image (with `sbom`). */
  sbom?: AttachedSbom[];
  /** Why no SBOM was attached although it was the default (`sbomOptional`). */
  sbomSkipped?: string;
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

/**
 * The architecture a commit records in its metadata (any naming), if any.
 *
 * @example
 * ```ts
 * import { commitArch } from "./build_image.ts";
 * commitArch({ metadata: new Map([["apt-ostree.arch", "aarch64"]]) }); // "aarch64"
 * ```
 */
export function commitArch(commit: Pick<CommitInfo, "metadata">): string | undefined {
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
    throw new UsageError(`Unknown format: ${format}`, { solution: `Use {format} ${IMAGE_FORMATS.join(", ")}` });
  }
  const compression = options.compression ?? "gzip";
  if (!COMPRESSIONS.includes(compression)) {
    throw new UsageError(`Unknown compression: ${compression}`, {
      solution: `Use {compression} ${COMPRESSIONS.join(" or ")}`,
    });
  }
  const level = options.compressionLevel ?? DEFAULT_LEVELS[compression];
  const [low, high] = LEVEL_RANGES[compression];
  if (!Number.isInteger(level) || level < low || level > high) {
    throw new UsageError(`Invalid ${compression} compression level: ${level}`, {
      solution: `Use {compressionLevel} from ${low} to ${high} with ${compression}`,
    });
  }
  const cpus = navigator.hardwareConcurrency ?? 1;
  if (
    options.workers !== undefined &&
    (!Number.isInteger(options.workers) || options.workers < 1 || options.workers > 4 * cpus)
  ) {
    throw new UsageError(`Invalid number of compression threads: ${options.workers}`, {
      solution: `Use {workers} from 1 to ${4 * cpus} (four per CPU; the output is the same for any number)`,
    });
  }
  const maxLayers = options.maxLayers ?? DEFAULT_MAX_LAYERS;
  if (!Number.isInteger(maxLayers) || maxLayers < 1 || maxLayers > 127) {
    throw new UsageError(`Invalid maximum layer count: ${maxLayers}`, {
      solution: "Use {maxLayers} with a whole number from 1 to 127 (containerd's limit)",
    });
  }
  checkLintRuleNames(options.lintSkip ?? [], "lintSkip");
  const ref = parseImageReference(options.image);
  if (ref.digest !== undefined) {
    throw new UsageError(`Cannot build into a digest reference: ${options.image}`, {
      solution: "Name the image with a tag (name:tag); the digest is computed from the content",
    });
  }
  const settings = options.settings ?? {};
  validateImageSettings(settings);
  // Before any work: settings that would make a config or manifest nobody can read are refused now.
  const draft = buildImageConfig({
    platform: { architecture: "amd64", os: "linux" },
    created: new Date(0),
    settings,
    labels: {},
    diffIds: [],
    history: [],
  });
  checkImageJsonSize(jsonBytes(draft), "config", settings);
  checkImageJsonSize(jsonBytes({ annotations: settings.annotations ?? {} }), "manifest", settings);
  if (options.created !== undefined && Number.isNaN(options.created.getTime())) {
    throw new UsageError("Invalid creation time", { solution: "Set SOURCE_DATE_EPOCH to whole seconds since 1970" });
  }
  return { ref, format, compression, level, maxLayers };
}

/** Where a build writes: a location with a transport, or a path in `format`. */
function outputLocation(output: string | undefined, ref: ImageReference, format: ImageFormat): ImageLocation {
  if (output !== undefined && isImageLocation(output)) return parseImageLocation(output);
  const path = resolve(output ?? defaultOutputPath(ref, format));
  if (format === "oci") return { transport: "oci", path, tag: undefined };
  if (format === "oci-archive") return { transport: "oci-archive", path, tag: undefined };
  return { transport: "docker-archive", path, ref: undefined };
}

/** The format a location is written in. */
function locationFormat(location: ImageLocation): BuildImageResult["format"] {
  switch (location.transport) {
    case "oci":
      return "oci";
    case "oci-archive":
      return "oci-archive";
    case "docker-archive":
      return "docker";
    case "docker":
      return "registry";
  }
}

/**
 * The fingerprint of a build: every input that decides the image. Two
 * builds with equal fingerprints give the same image.
 */
function buildFingerprint(input: {
  commit: string;
  bootc: boolean | "auto";
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

/** A layer of the plan, and how to write it. */
interface LayerJob {
  id: string;
  key?: string;
  contentBytes: number;
  entryCount: number;
  annotations: Record<string, string>;
  write(
    blobs: ImageSink["blobs"],
    options: Pick<BuildLayerOptions, "pool" | "bufferPool" | "signal" | "stats" | "annotations">,
  ): Promise<BuiltLayer>;
}

/** What the tree gives: the layers to write and what the result reports. */
interface TreePlan {
  bootc: boolean;
  /** Lint warnings (fatal findings stop the build). */
  lint: LintFinding[];
  kernel?: string;
  /** The max-layers annotation value (bins are carried only between builds with the same one). */
  planKey?: string;
  entries: number;
  contentBytes: number;
  layers: LayerJob[];
  /** The commit's tree as listed (the SBOM reads the dpkg database from it). */
  listed: TreeEntries;
}

/** Layer descriptor annotations that let later builds reuse the layer and keep its bin. */
function layerAnnotations(layer: PlannedLayer, key: string): Record<string, string> {
  return {
    [ANNOTATION_LAYER_BIN]: layer.id,
    [ANNOTATION_LAYER_KEY]: key,
    [ANNOTATION_LAYER_UNITS]: JSON.stringify(layer.units),
  };
}

async function allBlobsPresent(sink: ImageSink, image: StoredImage, signal?: AbortSignal): Promise<boolean> {
  for (const blob of [image.manifest.config, ...image.manifest.layers]) {
    if (!(await sink.blobs.has(blob.digest, signal))) return false;
  }
  return true;
}

/** An image found without a recorded name (a registry's, behind the tag being written) is taken as this image's. */
function named(image: StoredImage, ref: ImageReference): StoredImage {
  if (image.descriptor.annotations?.[ANNOTATION_CONTAINERD_NAME] !== undefined) return image;
  return {
    ...image,
    descriptor: {
      ...image.descriptor,
      annotations: { ...image.descriptor.annotations, [ANNOTATION_CONTAINERD_NAME]: ref.fullName },
    },
  };
}

function layerResults(image: StoredImage, reused: boolean): LayerResult[] {
  return image.manifest.layers.map((l, i) => ({
    mediaType: l.mediaType,
    digest: l.digest,
    size: l.size,
    diffId: image.config.rootfs.diff_ids[i],
    bin: l.annotations?.[ANNOTATION_LAYER_BIN],
    reused,
  }));
}

/** An SBOM attached to an image. */
export type AttachedSbom = AttachResult & { format: SbomFormat; size: number };

/** Whether an output can hold referrers (not a docker-archive). */
function holdsSbom(location: ImageLocation, sink: ImageSink | undefined): boolean {
  return sink ? sink.putReferrer !== undefined : location.transport !== "docker-archive";
}

/** Refuses SBOMs for an output that cannot hold referrers (a docker-archive), before any work. */
function checkSbomOutput(location: ImageLocation, sink: ImageSink | undefined): void {
  if (!holdsSbom(location, sink)) {
    throw new UsageError(`${sink?.description ?? location.transport} cannot hold an SBOM attached to the image`, {
      solution:
        "Write an OCI layout, an oci-archive or to a registry with {sbom}, or write the SBOM to a file with: apt-ostree compose sbom",
    });
  }
}

/** Attaches each SBOM to the image as a referrer (an unchanged one is left as it is). */
async function attachSboms(
  sink: ImageSink,
  subject: Descriptor,
  sboms: Map<SbomFormat, Uint8Array>,
  created: string,
  signal: AbortSignal | undefined,
): Promise<AttachedSbom[]> {
  const out = [];
  for (const [format, bytes] of sboms) {
    const artifact = artifactManifest(subject, SBOM_MEDIA_TYPES[format], bytes, { [ANNOTATION_CREATED]: created });
    out.push({ format, size: bytes.length, ...(await attachArtifact(sink, subject, artifact, signal)) });
  }
  return out;
}

/**
 * A build resolved and checked before anything is written: the commit,
 * its platform and the fingerprint of the image it gives. Made by
 * {@linkcode prepareBuild}, written by {@linkcode writeBuild}.
 */
export interface PreparedBuild {
  /** The options it was made from. */
  options: BuildImageOptions;
  /** The image name. */
  ref: ImageReference;
  /** Where it goes. */
  location: ImageLocation;
  /** The opened repository. */
  repo: OstreeRepo;
  /** The commit checksum. */
  commitChecksum: string;
  /** The commit. */
  commit: CommitInfo;
  /** The architecture the commit records, if any. */
  recordedArch?: string;
  /** The image's platform. */
  platform: Platform;
  /** Fingerprint of everything that decides the image. */
  fingerprint: string;
  /** What every result reports. */
  base: Pick<BuildImageResult, "commit" | "image" | "format" | "output" | "platform" | "created">;
  compression: Compression;
  level: number;
  maxLayers: number;
  settings: ImageSettings;
  created: string;
  /** The SBOM formats still to make and attach (those an unchanged image already has are dropped). */
  sbomFormats: SbomFormat[];
  /** Why no SBOM is attached although it was the default. */
  sbomSkipped?: string;
  started: number;
  phases: ReturnType<typeof phaseTimer>;
}

/**
 * Checks the options and resolves the commit, writing nothing.
 *
 * @example
 * ```ts
 * import { prepareBuild } from "./build_image.ts";
 * const prepared = await prepareBuild({ repo: "repo", source: "main", image: "app:1" });
 * console.log(prepared.platform, prepared.fingerprint);
 * ```
 */
export async function prepareBuild(options: BuildImageOptions): Promise<PreparedBuild> {
  const started = performance.now();
  const phases = phaseTimer();
  phases.start("resolve");
  const { ref, format, compression, level, maxLayers } = validateOptions(options);
  const location = outputLocation(options.output, ref, format);
  let sbomFormats = [...new Set(options.sbom ?? [])];
  let sbomSkipped: string | undefined;
  if (sbomFormats.length > 0 && !options.dryRun) {
    if (options.sbomOptional && !holdsSbom(location, options.sink)) {
      sbomSkipped = `${options.sink?.description ?? location.transport} cannot hold referrers`;
      sbomFormats = [];
    } else checkSbomOutput(location, options.sink);
  }
  if (location.transport === "docker-archive" && compression === "zstd" && !options.allowZstdDocker) {
    throw new UsageError(
      "A docker-archive with zstd layers cannot be loaded by Docker before 23.0 (Debian 12 ships 20.10), and skopeo does not write one",
      {
        solution:
          "Use {compression} gzip for a docker-archive, or write an OCI layout or oci-archive; pass {allowZstdDocker} if every loader is Docker 23+ or podman",
      },
    );
  }
  const signal = options.signal;
  const repo = typeof options.repo === "string" ? await OstreeRepo.open(options.repo) : options.repo;
  const commitChecksum = await repo.resolveCommit(options.source, { signal });
  const commit = await repo.readCommit(commitChecksum, { signal });
  const recordedArch = commitArch(commit);
  const platform = ociPlatform(options.arch ?? recordedArch ?? hostArch());
  const created = rfc3339(options.created ?? new Date(commit.timestamp * 1000));
  const output = options.sink?.description ??
    (location.transport === "docker" ? formatImageLocation(location) : resolve(location.path));
  const settings = options.settings ?? {};
  const fingerprint = buildFingerprint({
    commit: commitChecksum,
    bootc: options.bootc ?? "auto",
    compression,
    level,
    maxLayers,
    settings,
    platform,
    created,
  });
  return {
    options,
    ref,
    location,
    repo,
    commitChecksum,
    commit,
    ...(recordedArch !== undefined ? { recordedArch } : {}),
    platform,
    fingerprint,
    base: { commit: commitChecksum, image: ref.fullName, format: locationFormat(location), output, platform, created },
    compression,
    level,
    maxLayers,
    settings,
    created,
    sbomFormats,
    ...(sbomSkipped !== undefined ? { sbomSkipped } : {}),
    started,
    phases,
  };
}

/** Lists the commit's tree and plans its layers, seeded with the bins of `previous` builds. */
async function planTree(prepared: PreparedBuild, previous: StoredImage[], pool?: DeflatePool): Promise<TreePlan> {
  const { options, repo, commitChecksum, commit, phases, ref, compression, level, maxLayers } = prepared;
  const signal = options.signal;
  const content = contentSourceFor(repo);
  phases.start("list");
  const listed = await repo.readTree(commitChecksum, { signal, threads: pool });
  // The listing's garbage (dirtrees, batches from the workers) goes before the layers make theirs.
  collectGarbage();
  // Maps paths in place: `listed` keeps the commit's walk order, which layer 0 of an ostree-native image keeps.
  const entries = toImageRootfs(listed);
  const kernels = treeKernels(entries);
  const bootc = options.bootc ?? kernels.length > 0;
  // A host could not deploy a commit that breaks a fatal rule: refuse it before writing anything.
  const lint = bootc
    ? await assertLintClean(treeLintTree(entries, content), {
      skip: options.lintSkip,
      skipOption: "lintSkip",
    })
    : [];
  phases.start("plan");
  const owners = maxLayers > 1 ? await readDpkgOwners(entries, content) : undefined;
  const unitOf = owners ? (path: string) => owners.get(path) : pathPrefixUnit;
  const budget = { compression, level };
  // Bins are carried from a build of the same platform only (an index holds several under one name).
  const samePlatformBuilds = previous.filter((image) =>
    samePlatform(prepared.platform, {
      architecture: image.config.architecture,
      os: image.config.os,
      ...(image.config.variant ? { variant: image.config.variant } : {}),
    })
  );
  if (!bootc) {
    const plan = planLayers(entries, { maxLayers, unitOf, previous: previousBins(samePlatformBuilds, ref, maxLayers) });
    return {
      bootc,
      lint,
      listed,
      entries: entries.length,
      contentBytes: plan.reduce((n, layer) => n + layer.contentBytes, 0),
      layers: plan.map((layer) => {
        const key = layerKey(layer.entries, compression, level);
        return {
          id: layer.id,
          key,
          contentBytes: layer.contentBytes,
          entryCount: layer.entries.length,
          annotations: layerAnnotations(layer, key),
          write: (blobs, write) => buildLayer(layer.entries, content, blobs, { ...budget, ...write }),
        };
      }),
    };
  }
  const planKey = `${maxLayers}/bootc`;
  const single = maxLayers === 1;
  const chunks = planLayers(entries, {
    maxLayers: single ? 1 : maxLayers - 1,
    unitOf,
    previous: previousBins(samePlatformBuilds, ref, planKey)?.filter((b) => b.id !== COMMIT_LAYER_ID),
  });
  const layers = planOstreeContainer({
    repo,
    commit: commitChecksum,
    info: commit,
    directories: listed.filter((e) => e.kind === "directory"),
    chunks,
    single,
    compression,
    level,
  });
  const open = bootcContent(content);
  return {
    bootc,
    lint,
    listed,
    kernel: kernels[0],
    planKey,
    entries: layers.reduce((n, l) => n + l.entryCount, 0),
    contentBytes: layers.reduce((n, l) => n + l.contentBytes, 0),
    layers: layers.map((layer) => ({
      id: layer.id,
      key: layer.key,
      contentBytes: layer.contentBytes,
      entryCount: layer.entryCount,
      annotations: {
        [ANNOTATION_LAYER_BIN]: layer.id,
        ...(layer.key ? { [ANNOTATION_LAYER_KEY]: layer.key } : {}),
        [ANNOTATION_LAYER_UNITS]: JSON.stringify(layer.units),
        ...(layer.units.length > 0 ? { [BOOTC_LABELS.components]: layer.units.join(",") } : {}),
      },
      write: (blobs, write) =>
        buildLayer(layer.entries(), open, blobs, { ...budget, ...write, linkEqualContent: false }),
    })),
  };
}

/**
 * What a dry run reports: the plan of a prepared build, nothing written.
 *
 * @example
 * ```ts
 * import { planBuild, prepareBuild } from "./build_image.ts";
 * const plan = await planBuild(await prepareBuild({ repo: "repo", source: "main", image: "app:1", dryRun: true }));
 * console.log(plan.plannedLayers);
 * ```
 */
export async function planBuild(prepared: PreparedBuild): Promise<BuildImageResult> {
  const plan = await planTree(prepared, []);
  return {
    ...prepared.base,
    dryRun: true,
    reusedImage: false,
    bootc: plan.bootc,
    ...(plan.kernel ? { kernel: plan.kernel } : {}),
    ...(plan.bootc ? { lintWarnings: plan.lint } : {}),
    entries: plan.entries,
    contentBytes: plan.contentBytes,
    plannedLayers: plan.layers.map((l) => ({ bin: l.id, entries: l.entryCount, contentBytes: l.contentBytes })),
    durations: prepared.phases.finish(3),
  };
}

/** What {@linkcode writeBuild} wrote: the manifest (stored, not committed) and the report. */
export interface WrittenBuild {
  /** The manifest, stored in the sink by digest. */
  raw: RawManifest;
  /** What the build did (its SBOMs are added by {@linkcode attachBuildSboms}). */
  result: BuildImageResult;
  /** SBOMs made, to attach to the manifest ({@linkcode attachBuildSboms}). */
  sboms?: Map<SbomFormat, Uint8Array>;
  /** SBOMs an earlier build attached to the same image, kept. */
  keptSboms: AttachedSbom[];
}

/** What {@linkcode writeBuild} shares with other builds into the same sink. */
export interface WriteBuildContext {
  /** The images already at the destination (from {@linkcode ImageSink.previousImages}, named). */
  previous: StoredImage[];
  /** The compression threads. */
  pool: DeflatePool;
}

/**
 * Writes a prepared build's layers, config and manifest into an open sink
 * and stores the manifest by digest, without committing: the caller
 * commits it (a single image) or an index that lists it. An image of the
 * same fingerprint already in the sink is reused as it is.
 *
 * @example
 * ```ts
 * import { prepareBuild, writeBuild } from "./build_image.ts";
 * import { DeflatePool } from "../compress/deflate_pool.ts";
 * import { openImageSink } from "../image/open.ts";
 * import { parseImageLocation } from "../reference/transport.ts";
 * const prepared = await prepareBuild({ repo: "repo", source: "main", image: "app:1" });
 * const sink = await openImageSink(parseImageLocation("oci:app.oci:1"));
 * const pool = new DeflatePool(2);
 * const { raw } = await writeBuild(prepared, sink, { previous: await sink.previousImages(), pool });
 * await sink.commit(raw);
 * pool.terminate();
 * sink.close();
 * ```
 */
export async function writeBuild(
  prepared: PreparedBuild,
  target: ImageSink,
  context: WriteBuildContext,
): Promise<WrittenBuild> {
  const { options, phases, base, fingerprint, commitChecksum, commit, settings, created, platform, maxLayers } =
    prepared;
  const { previous, pool } = context;
  const signal = options.signal;
  const stats: TarStats = newTarStats();
  let phase = "listing";
  let totalEntries = 0;
  let totalBytes = 0;
  let reusedBytes = 0;
  let reusedEntries = 0;
  const progress = (): Progress => ({
    phase,
    done: stats.contentBytes + reusedBytes,
    total: totalBytes,
    count: { done: stats.entries + reusedEntries, total: totalEntries, of: "files" },
    elapsedMs: performance.now() - prepared.started,
  });
  const ticker = progressTicker(progress, options.onProgress);
  const report = ticker.tick;
  const makeSboms = async (listed: TreeEntries | undefined) => {
    if (prepared.sbomFormats.length === 0) return undefined;
    phases.start("sbom");
    const made = await commitSbom(prepared.repo, {
      commit: commitChecksum,
      name: prepared.ref.fullName,
      image: true,
      formats: prepared.sbomFormats,
      entries: listed,
      signal,
      ifDpkgDatabase: options.sbomOptional,
    });
    if (made.size > 0) return made;
    prepared.sbomSkipped = "the commit has no dpkg database";
    return undefined;
  };
  try {
    // Nothing changed since an earlier build: that image again.
    const same = imageWithFingerprint(previous, fingerprint);
    if (same && (await allBlobsPresent(target, same, signal))) {
      await target.putManifest(same.raw, signal);
      // SBOMs attached by the earlier build are kept as they are, without making them again.
      const keptSboms = options.sink || prepared.sbomFormats.length === 0
        ? []
        : await attachedSboms(prepared.location, prepared.ref, options.registry, same.descriptor, prepared.sbomFormats);
      prepared.sbomFormats = prepared.sbomFormats.filter((f) => !keptSboms.some((k) => k.format === f));
      const sboms = await makeSboms(undefined);
      return {
        raw: same.raw,
        ...(sboms ? { sboms } : {}),
        keptSboms,
        result: {
          ...base,
          dryRun: false,
          reusedImage: true,
          bootc: same.config.config?.Labels?.[BOOTC_LABELS.finalDiffId] !== undefined,
          ...(same.config.config?.Labels?.[BOOTC_LABELS.linux]
            ? { kernel: same.config.config.Labels[BOOTC_LABELS.linux] }
            : {}),
          digest: same.descriptor.digest,
          config: same.manifest.config,
          layers: layerResults(same, true),
          durations: phases.finish(3),
        },
      };
    }

    const plan = await planTree(prepared, previous, pool);
    totalEntries = plan.entries;
    totalBytes = plan.contentBytes;
    // Before any layer: a commit without a dpkg database fails here, with nothing written.
    const sboms = await makeSboms(plan.listed);
    const cache = layerCache(previous);
    // One set of block buffers for every layer (a pool per layer left 64 pools of garbage for the collector).
    const bufferPool = new BufferPool(GZIP_BLOCK_SIZE, 2 * (pool.size + 2));
    phases.start("layers");
    phase = "layers";
    report();
    const layers = await mapLimit(
      plan.layers,
      Math.max(2, pool.size),
      async (layer): Promise<CachedLayer & { reused: boolean }> => {
        const cached = layer.key === undefined ? undefined : cache.get(layer.key);
        if (cached && (await target.blobs.has(cached.descriptor.digest, signal))) {
          reusedBytes += layer.contentBytes;
          reusedEntries += layer.entryCount;
          return {
            descriptor: { ...cached.descriptor, annotations: layer.annotations },
            diffId: cached.diffId,
            reused: true,
          };
        }
        const built = await layer.write(target.blobs, {
          pool,
          bufferPool,
          signal,
          stats,
          annotations: layer.annotations,
        });
        return { descriptor: built.descriptor, diffId: built.diffId, reused: false };
      },
    );
    phase = "finishing";
    phases.start("finish");
    report();

    const labels: Record<string, string> = { [BOOTC_LABELS.commit]: commitChecksum };
    if (commit.version !== undefined) labels["org.opencontainers.image.version"] = commit.version;
    if (plan.bootc) {
      labels[BOOTC_LABELS.finalDiffId] = layers[layers.length - 1].diffId;
      if (plan.kernel !== undefined) {
        labels[BOOTC_LABELS.bootc] = "1";
        labels[BOOTC_LABELS.bootable] = "true";
        labels[BOOTC_LABELS.linux] = plan.kernel;
      }
    }
    const config = buildImageConfig({
      platform,
      created: new Date(created),
      settings,
      labels,
      diffIds: layers.map((l) => l.diffId),
      history: layers.map((_, i) => ({
        created_by: `apt-ostree compose build-image ${plan.bootc ? "--bootc " : ""}${commitChecksum}` +
          (layers.length > 1 ? ` (layer ${plan.layers[i].id})` : ""),
        comment: i === 0 && commit.subject ? commit.subject : undefined,
      })),
    });
    const configBytes = jsonBytes(config);
    checkImageJsonSize(configBytes, "config", settings);
    const configBlob = await target.blobs.putBytes(configBytes);
    const annotations: Record<string, string> = {
      "org.opencontainers.image.created": created,
      "org.opencontainers.image.revision": commitChecksum,
      ...(commit.version !== undefined ? { "org.opencontainers.image.version": commit.version } : {}),
      ...(plan.bootc ? labels : {}),
      [ANNOTATION_BUILD]: fingerprint,
      [ANNOTATION_MAX_LAYERS]: plan.planKey ?? String(maxLayers),
      ...(settings.annotations ?? {}),
    };
    const manifest = buildImageManifest(
      { mediaType: "", digest: configBlob.digest, size: configBlob.size },
      layers.map((l) => l.descriptor),
      annotations,
    );
    const raw = rawManifest(jsonBytes(manifest), MEDIA_TYPE_MANIFEST);
    checkImageJsonSize(raw.bytes, "manifest", settings);
    signal?.throwIfAborted();
    await target.putManifest(raw, signal);
    return {
      raw,
      ...(sboms ? { sboms } : {}),
      keptSboms: [],
      result: {
        ...base,
        dryRun: false,
        reusedImage: false,
        bootc: plan.bootc,
        ...(plan.kernel ? { kernel: plan.kernel } : {}),
        ...(plan.bootc ? { lintWarnings: plan.lint } : {}),
        digest: raw.digest,
        config: manifest.config,
        layers: layers.map((l, i) => ({
          mediaType: l.descriptor.mediaType,
          digest: l.descriptor.digest,
          size: l.descriptor.size,
          diffId: l.diffId,
          bin: plan.layers[i].id,
          reused: l.reused,
        })),
        entries: totalEntries,
        contentBytes: totalBytes,
        durations: phases.finish(3),
      },
    };
  } finally {
    ticker.stop();
  }
}

/**
 * Attaches a written build's SBOMs to its manifest, and returns the
 * build's result with them (and those an earlier build attached, kept).
 * Call it before committing a sink that writes referrers with the image
 * (`referrersBeforeCommit`, an oci-archive), after committing any other.
 *
 * @example
 * ```ts
 * import { attachBuildSboms, type PreparedBuild, type WrittenBuild } from "./build_image.ts";
 * import type { ImageSink } from "../oci/image.ts";
 * declare const prepared: PreparedBuild, sink: ImageSink, written: WrittenBuild;
 * const result = await attachBuildSboms(prepared, sink, written);
 * console.log(result.sbom?.map((s) => s.digest));
 * ```
 */
export async function attachBuildSboms(
  prepared: PreparedBuild,
  target: ImageSink,
  written: WrittenBuild,
): Promise<BuildImageResult> {
  const attached = written.sboms &&
    await attachSboms(target, rawDescriptor(written.raw), written.sboms, prepared.created, prepared.options.signal);
  const sbom = written.keptSboms.length > 0 || attached ? [...written.keptSboms, ...(attached ?? [])] : undefined;
  return {
    ...written.result,
    ...(sbom ? { sbom } : {}),
    ...(prepared.sbomSkipped ? { sbomSkipped: prepared.sbomSkipped } : {}),
  };
}

/**
 * Opens the sink a build writes into (the given one, or its output).
 *
 * @example
 * ```ts
 * import { openBuildSink, prepareBuild } from "./build_image.ts";
 * const prepared = await prepareBuild({ repo: "repo", source: "main", image: "app:1" });
 * const sink = await openBuildSink(prepared);
 * const previous = await sink.previousImages(); // named after the image where unnamed
 * sink.close();
 * ```
 */
export async function openBuildSink(prepared: PreparedBuild): Promise<ImageSink> {
  const { options, location, ref, repo } = prepared;
  options.signal?.throwIfAborted();
  return options.sink ?? await openImageSink(location, {
    ...options.registry,
    signal: options.signal,
    tag: ref.tag ?? "latest",
    name: ref.fullName,
    repoTag: ref.familiarName,
    force: options.force === true,
    protect: [{ path: repo.path, what: "the OSTree repository (--repo)" }],
  });
}

/**
 * The images already at a build's destination, those without a recorded
 * name taken as the image's own (see {@linkcode writeBuild}).
 *
 * @example
 * ```ts
 * import { openBuildSink, prepareBuild, previousBuilds } from "./build_image.ts";
 * const prepared = await prepareBuild({ repo: "repo", source: "main", image: "app:1" });
 * const sink = await openBuildSink(prepared);
 * console.log((await previousBuilds(sink, prepared)).length);
 * ```
 */
export async function previousBuilds(sink: ImageSink, prepared: PreparedBuild): Promise<StoredImage[]> {
  return (await sink.previousImages(prepared.options.signal)).map((image) => named(image, prepared.ref));
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
  const prepared = await prepareBuild(options);
  if (options.dryRun) return await planBuild(prepared);
  const signal = options.signal;
  const target = await openBuildSink(prepared);
  const pool = new DeflatePool(options.workers ?? defaultWorkerCount());
  try {
    const previous = await previousBuilds(target, prepared);
    const written = await writeBuild(prepared, target, { previous, pool });
    signal?.throwIfAborted();
    // An archive writes its referrers with the image; elsewhere they follow it.
    const early = target.referrersBeforeCommit === true;
    const result = early ? await attachBuildSboms(prepared, target, written) : undefined;
    await target.commit(written.raw, signal);
    return result ?? await attachBuildSboms(prepared, target, written);
  } catch (error) {
    await target.abort();
    throw signal?.aborted ? signal.reason : error;
  } finally {
    pool.terminate();
    target.close();
  }
}
