/**
 * Checking any image source (an archive, a registry, one image of a
 * layout): every manifest of the image read and its digest checked, every
 * blob streamed through {@linkcode verifyingStream} (size and digest).
 * Problems are collected, not thrown, so one run names all of them. A whole
 * layout directory is checked by `verifyLayout` (`layout/verify.ts`), which
 * also finds blobs nothing references.
 *
 * @module
 */

import { AptOstreeError } from "../errors.ts";
import type { VerifyProblem } from "../layout/verify.ts";
import { type ImageSource, verifyingStream } from "../oci/image.ts";
import { BlobMismatchError } from "../oci/verify.ts";
import { isForeignLayer, parseImageConfig, parseManifest, type RawManifest } from "../oci/manifest.ts";
import { formatPlatform, samePlatform } from "../oci/platform.ts";
import type { Descriptor, Platform } from "../oci/types.ts";
import { type Progress, progressTicker } from "../util/progress.ts";

/** What {@linkcode verifyImage} found. */
export interface ImageVerifyResult {
  /** The image (its transport name). */
  image: string;
  /** Digest of the root manifest or index. */
  digest?: string;
  /** Blobs read and hashed. */
  blobs: number;
  /** Their bytes. */
  bytes: number;
  /** Manifests and indexes read. */
  manifests: number;
  /** The platforms an index lists, each checked against its image's config. */
  platforms?: string[];
  /** Problems (empty when the image is sound). */
  problems: VerifyProblem[];
}

/** Options for {@linkcode verifyImage}. */
export interface VerifyImageOptions {
  /** Aborts the check. */
  signal?: AbortSignal;
  /** Called with the bytes hashed so far and the bytes of all blobs. */
  onProgress?: (progress: Progress) => void;
}

function describeProblem(error: unknown): { kind: VerifyProblem["kind"]; message: string } {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof BlobMismatchError) return { kind: "corrupt", message };
  if (/missing|not found|404/i.test(message)) return { kind: "missing", message };
  return { kind: "invalid", message };
}

/**
 * Verifies every manifest and blob of the image `source` names.
 *
 * @example
 * ```ts
 * import { verifyImage } from "./verify.ts";
 * import { openImageSource } from "./open.ts";
 * import { parseImageLocation } from "../reference/transport.ts";
 * const result = await verifyImage(await openImageSource(parseImageLocation("oci-archive:web.tar")));
 * for (const p of result.problems) console.log(p.kind, p.digest, p.message);
 * ```
 */
export async function verifyImage(source: ImageSource, options: VerifyImageOptions = {}): Promise<ImageVerifyResult> {
  const { signal } = options;
  const result: ImageVerifyResult = { image: source.description, blobs: 0, bytes: 0, manifests: 0, problems: [] };
  const problem = (descriptor: Descriptor | undefined, error: unknown) => {
    if (signal?.aborted) throw signal.reason;
    if (!(error instanceof AptOstreeError)) throw error;
    const { kind, message } = describeProblem(error);
    result.problems.push({ kind, digest: descriptor?.digest, path: descriptor?.digest ?? source.description, message });
  };

  let root: RawManifest;
  try {
    root = await source.root(signal);
  } catch (error) {
    problem(undefined, error);
    return result;
  }
  result.digest = root.digest;
  const blobs = new Map<string, Descriptor>();
  const seen = new Set<string>();
  const visit = async (raw: RawManifest, depth: number, listed?: Descriptor) => {
    if (seen.has(raw.digest) || depth > 4) return;
    seen.add(raw.digest);
    result.manifests++;
    let parsed;
    try {
      parsed = parseManifest(raw, source.description);
    } catch (error) {
      problem({ mediaType: raw.mediaType, digest: raw.digest, size: raw.bytes.length }, error);
      return;
    }
    if (parsed.kind === "index") {
      for (const child of parsed.index.manifests) {
        try {
          await visit(await source.manifest(child, signal), depth + 1, child);
        } catch (error) {
          problem(child, error);
        }
      }
      return;
    }
    for (const blob of [parsed.manifest.config, ...parsed.manifest.layers]) {
      if (!isForeignLayer(blob)) blobs.set(blob.digest, blob);
    }
    if (listed?.platform) await checkPlatform(listed, listed.platform, parsed.manifest.config);
  };
  // An index entry must name the platform its image's config says: swapped entries give every host the wrong image.
  const checkPlatform = async (entry: Descriptor, platform: Platform, configBlob: Descriptor) => {
    let config;
    try {
      config = parseImageConfig(await source.blobBytes(configBlob, signal), source.description);
    } catch (error) {
      problem(configBlob, error);
      return;
    }
    const actual: Platform = {
      architecture: config.architecture,
      os: config.os,
      ...(config.variant ? { variant: config.variant } : {}),
    };
    (result.platforms ??= []).push(formatPlatform(platform));
    if (!samePlatform(platform, actual)) {
      result.problems.push({
        kind: "invalid",
        digest: entry.digest,
        path: entry.digest,
        message: `the index lists this manifest for ${formatPlatform(platform)}, but its config is for ${
          formatPlatform(actual)
        }`,
      });
    }
  };
  await visit(root, 0);

  const list = [...blobs.values()].sort((a, b) => (a.digest < b.digest ? -1 : 1));
  const total = list.reduce((n, b) => n + b.size, 0);
  let hashed = 0;
  let checked = 0;
  const started = performance.now();
  const ticker = progressTicker(() => ({
    phase: "hashing",
    done: hashed,
    total,
    count: { done: checked, total: list.length, of: "blobs" },
    elapsedMs: performance.now() - started,
  }), options.onProgress);
  try {
    for (const blob of list) {
      signal?.throwIfAborted();
      try {
        const stream = (await source.openBlob(blob, 0, signal)).pipeThrough(verifyingStream(blob, source.description));
        for await (const chunk of stream) hashed += chunk.length;
        result.blobs++;
        result.bytes += blob.size;
      } catch (error) {
        problem(blob, error);
      }
      checked++;
    }
  } finally {
    ticker.stop();
  }
  return result;
}
