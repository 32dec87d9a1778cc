/**
 * `buildIndex`: several OSTree commits, one per platform, to one OCI image
 * index (a multi-platform image, as `podman manifest` and `buildah build
 * --platform` make). Each platform's manifest is a whole
 * {@linkcode writeBuild} of its own commit into the one open sink, with its
 * own layers, planned and reused per platform; the index that lists them is
 * committed last, so the destination shows all platforms or none.
 *
 * Before anything is written, every platform is checked: a known
 * architecture, listed once, and the commit's recorded architecture equal
 * to the platform it is given. An unchanged rebuild reuses every manifest
 * by fingerprint, and the index, made from the same bytes in the same
 * order, has the same digest.
 *
 * @module
 */

import { defaultWorkerCount, DeflatePool } from "../compress/deflate_pool.ts";
import { UsageError } from "../errors.ts";
import { OstreeRepo } from "../ostree/repo.ts";
import { rawManifest } from "../oci/manifest.ts";
import {
  architecture,
  findArchitecture,
  formatPlatform,
  parsePlatform,
  platformArchitecture,
  samePlatform,
} from "../oci/platform.ts";
import { jsonBytes } from "../oci/image_config.ts";
import { type ImageIndex, MEDIA_TYPE_INDEX, type Platform } from "../oci/types.ts";
import {
  attachBuildSboms,
  type BuildImageOptions,
  type BuildImageResult,
  openBuildSink,
  planBuild,
  prepareBuild,
  type PreparedBuild,
  previousBuilds,
  writeBuild,
  type WrittenBuild,
} from "./build_image.ts";

/** One platform of an index and the commit it is built from. */
export interface PlatformSource {
  /** The platform: `linux/arm64`, `linux/arm/v7`, or an architecture name (`arm64`, `armhf`). */
  platform: string;
  /** Branch, ref, commit checksum or unique checksum prefix. */
  source: string;
}

/** Options for {@linkcode buildIndex}: those of a single build, with a source per platform. */
export interface BuildIndexOptions extends Omit<BuildImageOptions, "source" | "arch"> {
  /** The platforms and their commits (at least one; each platform once). */
  platforms: PlatformSource[];
}

/** What {@linkcode buildIndex} did (or, for a dry run, would do). */
export interface BuildIndexResult {
  /** Whether this was a dry run (nothing written). */
  dryRun: boolean;
  /** The image reference, normalised. */
  image: string;
  /** Output format (`registry` for a `docker://` output). */
  format: BuildImageResult["format"];
  /** Absolute output path, or the `docker://` location. */
  output: string;
  /** The index's media type. */
  mediaType: string;
  /** Digest of the index (absent in a dry run). */
  digest?: string;
  /** Whether every platform's image was reused as it was (so the index is the same). */
  reusedImage: boolean;
  /** Each platform's build, in index order. */
  images: BuildImageResult[];
  /** Seconds the whole build took. */
  seconds: number;
}

/** The platforms parsed and checked: known, each once. */
function parsePlatforms(platforms: PlatformSource[]): { platform: Platform; debian: string; source: string }[] {
  if (platforms.length === 0) {
    throw new UsageError("No platform to build", {
      solution: "Give {platform} PLATFORM=SOURCE once per platform, e.g. linux/arm64=deploy/arm64",
    });
  }
  const parsed = platforms.map(({ platform, source }) => {
    const p = parsePlatform(platform);
    return {
      platform: p,
      debian: platformArchitecture(p).debian,
      source,
    };
  });
  for (let i = 0; i < parsed.length; i++) {
    const twice = parsed.findIndex((other, j) => j < i && samePlatform(other.platform, parsed[i].platform));
    if (twice >= 0) {
      throw new UsageError(`Platform ${formatPlatform(parsed[i].platform)} is listed twice`, {
        solution: "Give each platform once with {platform}; an index holds one image per platform",
      });
    }
  }
  return parsed;
}

/** Refuses a commit whose recorded architecture is not the platform's. */
function checkCommitArch(prepared: PreparedBuild, source: string): void {
  const recorded = prepared.recordedArch;
  if (recorded === undefined) return;
  const known = findArchitecture(recorded);
  if (known && known.debian === architecture(prepared.options.arch!).debian) return;
  throw new UsageError(
    `Commit ${prepared.commitChecksum.slice(0, 12)} (${source}) is for ${recorded}, not ${
      formatPlatform(prepared.platform)
    }`,
    {
      solution: `Give {platform} ${
        known ? formatPlatform({ os: "linux", architecture: known.oci, variant: known.variant }) : "PLATFORM"
      }=${source}, or a commit composed for ${formatPlatform(prepared.platform)} (compose create {arch})`,
    },
  );
}

/**
 * Builds one image index with a manifest per platform, each from its own
 * commit, into any sink but a docker-archive (which has no form for
 * several platforms).
 *
 * @example
 * ```ts
 * import { buildIndex } from "./build_index.ts";
 * const result = await buildIndex({
 *   repo: "/var/lib/apt-ostree/repo",
 *   image: "app:1",
 *   output: "oci:app.oci:1",
 *   platforms: [
 *     { platform: "linux/amd64", source: "deploy/amd64" },
 *     { platform: "linux/arm64", source: "deploy/arm64" },
 *   ],
 * });
 * console.log(result.digest, result.images.map((i) => i.platform));
 * ```
 */
export async function buildIndex(options: BuildIndexOptions): Promise<BuildIndexResult> {
  const started = performance.now();
  const platforms = parsePlatforms(options.platforms);
  const { platforms: _, ...shared } = options;
  // One repository for every platform (opening reads its config; the builds share it).
  const repo = typeof options.repo === "string" ? await OstreeRepo.open(options.repo) : options.repo;
  const prepared: PreparedBuild[] = [];
  for (const { debian, source } of platforms) {
    const one = await prepareBuild({ ...shared, repo, source, arch: debian });
    checkCommitArch(one, source);
    prepared.push(one);
  }
  // One order for one set of platforms, however they were listed: the same build gives the same digest.
  prepared.sort((a, b) => formatPlatform(a.platform) < formatPlatform(b.platform) ? -1 : 1);
  const first = prepared[0];
  if (first.location.transport === "docker-archive") {
    throw new UsageError("A docker-archive holds images, not an index: it has no list of platforms", {
      solution:
        "Write an OCI layout or oci-archive ({output} oci:PATH or oci-archive:PATH) or push to a registry ({output} docker://…); or build one platform at a time without {platform}",
    });
  }
  const summary = {
    image: first.base.image,
    format: first.base.format,
    output: first.base.output,
    mediaType: MEDIA_TYPE_INDEX,
  };
  if (options.dryRun) {
    const images: BuildImageResult[] = [];
    for (const one of prepared) images.push(await planBuild(one));
    return { ...summary, dryRun: true, reusedImage: false, images, seconds: elapsed(started) };
  }

  const signal = options.signal;
  const target = await openBuildSink(first);
  const pool = new DeflatePool(options.workers ?? defaultWorkerCount());
  try {
    const previous = await previousBuilds(target, first);
    const written: WrittenBuild[] = [];
    for (const one of prepared) written.push(await writeBuild(one, target, { previous, pool }));
    const index: ImageIndex = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE_INDEX,
      manifests: written.map(({ raw, result }) => ({
        mediaType: raw.mediaType,
        digest: raw.digest,
        size: raw.bytes.length,
        platform: result.platform,
      })),
    };
    const raw = rawManifest(jsonBytes(index), MEDIA_TYPE_INDEX);
    signal?.throwIfAborted();
    // Each platform's SBOMs are attached to its own manifest: with the index in an archive, after it elsewhere.
    const attachAll = async () => {
      const results: BuildImageResult[] = [];
      for (let i = 0; i < written.length; i++) results.push(await attachBuildSboms(prepared[i], target, written[i]));
      return results;
    };
    const early = target.referrersBeforeCommit === true ? await attachAll() : undefined;
    await target.commit(raw, signal);
    const images = early ?? await attachAll();
    return {
      ...summary,
      dryRun: false,
      digest: raw.digest,
      reusedImage: images.every((image) => image.reusedImage),
      images,
      seconds: elapsed(started),
    };
  } catch (error) {
    await target.abort();
    throw signal?.aborted ? signal.reason : error;
  } finally {
    pool.terminate();
    target.close();
  }
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started) / 1000;
}
