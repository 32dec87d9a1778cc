/**
 * One copy for every pair of formats, as `skopeo copy` and crane's `copy`
 * do: any {@linkcode ImageSource} into any {@linkcode ImageSink}. Manifests
 * move as raw bytes, so the digest is the same at the destination, except
 * where a format cannot hold the image as it is (a classic docker-archive
 * has no manifest: reading one makes an OCI manifest; a docker-archive
 * holds no index).
 *
 * Order, so that a failed copy never leaves a name pointing at missing
 * blobs: every blob first (skipped when the sink has it, several at once,
 * largest first), then the manifests by digest (children before their
 * index), and the tag last. A rerun copies only what is missing.
 *
 * @module
 */

import { hostArch, ociPlatform } from "../oci/platform.ts";
import { collectImage, type ImageSink, type ImageSource, resolveImage } from "../oci/image.ts";
import { rawDescriptor, type RawManifest } from "../oci/manifest.ts";
import { copyReferrers } from "./referrers.ts";
import type { Platform } from "../oci/types.ts";
import { mapLimit } from "../util/concurrency.ts";
import { type Progress, progressTicker } from "../util/progress.ts";

/** Options for {@linkcode copyImage}. */
export interface CopyOptions {
  /** Copy every platform of an index (default: only the image for `platform`). */
  all?: boolean;
  /** The platform to copy from an index without `all` (default: the host's). */
  platform?: Platform;
  /**
   * Carry along what is attached to the copied manifests (OCI referrers: an
   * SBOM, signatures), where source and sink both hold referrers.
   */
  referrers?: boolean;
  /** Blobs copied at the same time (default 3). */
  concurrency?: number;
  /** Aborts the copy; the sink is left as it was. */
  signal?: AbortSignal;
  /** Progress, a few times a second. */
  onProgress?: (progress: CopyProgress) => void;
}

/** Progress of a copy: phase `blobs` or `manifests`; bytes of blobs done of all; blobs done of all. */
export type CopyProgress = Progress;

/** Counts of a copy. */
export interface CopyCounts {
  /** All blobs of the image. */
  total: number;
  /** Written (sent to a registry, or stored). */
  uploaded: number;
  /** Mounted from another repository of the same registry. */
  mounted: number;
  /** Already at the destination. */
  skipped: number;
}

/** What {@linkcode copyImage} did. */
export interface CopyResult {
  /** The source. */
  source: string;
  /** The destination. */
  destination: string;
  /** Digest of the copied manifest (or index). */
  digest: string;
  /** Its media type. */
  mediaType: string;
  /** Manifests (an index and its children, or one manifest). */
  manifests: { total: number; uploaded: number };
  /** Blob counts. */
  blobs: CopyCounts;
  /** Byte counts (by blob size), plus `sent`: bytes actually sent, with any resent after failures. */
  bytes: CopyCounts & { sent: number };
  /** Whether the tag was written or moved (false when it already named this digest). */
  tagged: boolean;
  /** Referrers newly listed at the destination (with `referrers`). */
  referrers?: number;
  /** Duration in milliseconds. */
  elapsedMs: number;
}

/**
 * Copies an image (a manifest, or with `all` an index with every
 * manifest) from `source` into `sink`, and commits it. On failure the sink
 * is aborted; the caller closes both.
 *
 * @example
 * ```ts
 * import { copyImage } from "./copy.ts";
 * import { openImageSink, openImageSource } from "./open.ts";
 * import { parseImageLocation } from "../reference/transport.ts";
 * const source = await openImageSource(parseImageLocation("oci:web.oci:1"));
 * const sink = await openImageSink(parseImageLocation("docker://localhost:5000/web:1"), { tlsVerify: false });
 * const result = await copyImage(source, sink);
 * console.log(result.digest, result.bytes.uploaded);
 * ```
 */
export async function copyImage(source: ImageSource, sink: ImageSink, options: CopyOptions = {}): Promise<CopyResult> {
  const started = performance.now();
  const { signal } = options;
  try {
    let root: RawManifest = await source.root(signal);
    if (!options.all) {
      root = (await resolveImage(source, options.platform ?? ociPlatform(hostArch()), signal, root)).raw;
    }
    const { manifests, blobs } = await collectImage(source, root, signal);
    const list = [...blobs.values()].sort((a, b) => b.size - a.size || (a.digest < b.digest ? -1 : 1));
    const counts: CopyCounts = { total: list.length, uploaded: 0, mounted: 0, skipped: 0 };
    const bytes = { total: 0, uploaded: 0, mounted: 0, skipped: 0, sent: 0 };
    for (const b of list) bytes.total += b.size;
    let bytesDone = 0;
    let blobsDone = 0;
    let phase = "blobs";
    const ticker = progressTicker(() => ({
      phase,
      done: bytesDone,
      total: bytes.total,
      count: { done: blobsDone, total: list.length, of: "blobs" },
      elapsedMs: performance.now() - started,
    }), options.onProgress);
    try {
      // Largest first: the long transfers start early and overlap the small ones.
      await mapLimit(list, options.concurrency ?? 3, async (blob) => {
        signal?.throwIfAborted();
        if (await sink.blobs.has(blob.digest, signal)) {
          counts.skipped++;
          bytes.skipped += blob.size;
        } else {
          let sent = 0;
          const result = await sink.blobs.copy(blob, (offset) => source.openBlob(blob, offset, signal), {
            signal,
            from: source.registry,
            where: source.description,
            onBytes: (n) => {
              sent += n;
              bytesDone += n;
            },
          });
          bytes.sent += result.bytesSent;
          if (result.mounted) {
            counts.mounted++;
            bytes.mounted += blob.size;
          } else {
            counts.uploaded++;
            bytes.uploaded += blob.size;
          }
          bytesDone -= sent;
        }
        bytesDone += blob.size;
        blobsDone++;
      });
      phase = "manifests";
      ticker.tick();
      let manifestsWritten = 0;
      for (const raw of manifests) {
        if (await sink.putManifest(raw, signal)) manifestsWritten++;
      }
      signal?.throwIfAborted();
      // An archive writes its referrers with the image; elsewhere they are listed once the image is there.
      const early = options.referrers && sink.referrersBeforeCommit === true
        ? await copyReferrers(source, sink, manifests.map(rawDescriptor), signal)
        : undefined;
      const tagged = await sink.commit(root, signal);
      const referrers = options.referrers
        ? early ?? await copyReferrers(source, sink, manifests.map(rawDescriptor), signal)
        : undefined;
      return {
        source: source.description,
        destination: sink.description,
        digest: root.digest,
        mediaType: root.mediaType,
        manifests: { total: manifests.length, uploaded: manifestsWritten },
        blobs: counts,
        bytes,
        tagged,
        ...(referrers !== undefined ? { referrers } : {}),
        elapsedMs: Math.round(performance.now() - started),
      };
    } finally {
      ticker.stop();
    }
  } catch (error) {
    await sink.abort();
    throw signal?.aborted ? signal.reason : error;
  }
}
