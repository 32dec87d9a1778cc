/**
 * The image model every format implements, after go-containerregistry: an
 * {@linkcode ImageSource} reads an image (an OCI layout, an oci-archive, a
 * docker-archive, a registry), an {@linkcode ImageSink} writes one (the
 * same four), and both speak raw manifest bytes, never re-serialised, so
 * that digests survive a copy. A sink's {@linkcode BlobStore} takes blobs
 * of unknown digest (a layer being built) and of known digest (a copy).
 *
 * Also here, written once: walking an image's manifests
 * ({@linkcode collectImage}) and resolving an index to the manifest for a
 * platform ({@linkcode resolveImage}).
 *
 * @module
 */

import { AptOstreeError } from "../errors.ts";
import type { DigestResult } from "../digest/digest.ts";
import { isForeignLayer, parseManifest, type RawManifest, selectPlatform } from "./manifest.ts";
import type { Descriptor, ImageConfig, ImageManifest, Platform } from "./types.ts";

export { checkBlobBytes, MAX_SMALL_BLOB, verifyingStream } from "./verify.ts";

/** A readable image. */
export interface ImageSource {
  /** The transport name, for messages (`oci:/path:tag`, `docker://host/app:1`). */
  readonly description: string;
  /** Whether blobs are read from local files (no download needed). */
  readonly local: boolean;
  /** Registry and repository holding the blobs, for cross-repository mounts. */
  readonly registry?: { host: string; repository: string };
  /** The image name recorded with the image (a layout's `io.containerd.image.name`), when known. */
  readonly imageName?: string;
  /** The manifest or index the name points at. */
  root(signal?: AbortSignal): Promise<RawManifest>;
  /** A manifest named by a descriptor (an index's child), digest checked. */
  manifest(descriptor: Descriptor, signal?: AbortSignal): Promise<RawManifest>;
  /** Opens a blob at `offset` (default 0); check it with {@linkcode verifyingStream}. */
  openBlob(descriptor: Descriptor, offset?: number, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>>;
  /** Reads a small blob whole, digest and size checked. */
  blobBytes(descriptor: Descriptor, signal?: AbortSignal): Promise<Uint8Array>;
  /**
   * The manifests attached to `subject` (OCI 1.1 referrers: through the
   * referrers API or the `sha256-<hex>` fallback tag), as descriptors with
   * their `artifactType`; absent where the format holds none.
   */
  referrers?(subject: Descriptor, signal?: AbortSignal): Promise<Descriptor[]>;
  /** Releases files and connections. */
  close(): void;
}

/** Options for {@linkcode BlobStore.put}. */
export interface PutBlobOptions {
  /** Aborts the write; the partial blob is removed. */
  signal?: AbortSignal;
}

/** Opens a blob's bytes from `offset` (a retry after a cut connection resumes there). */
export type BlobOpener = (offset: number) => Promise<ReadableStream<Uint8Array>>;

/** Options for {@linkcode BlobStore.copy}. */
export interface CopyBlobOptions {
  /** Aborts the copy. */
  signal?: AbortSignal;
  /** Where the source keeps the blob, when it is a registry (a sink on the same registry mounts it). */
  from?: { host: string; repository: string };
  /** Called with the number of bytes sent, as they go. */
  onBytes?: (n: number) => void;
  /** The source, named in errors. */
  where?: string;
}

/** What {@linkcode BlobStore.copy} did. */
export interface CopyBlobResult {
  /** Whether the blob was mounted from another repository instead of sent. */
  mounted: boolean;
  /** Bytes actually sent, resent ones after failures included. */
  bytesSent: number;
}

/** Content-addressed storage for blobs. */
export interface BlobStore {
  /** Whether a blob is already stored. */
  has(digest: string, signal?: AbortSignal): Promise<boolean>;
  /** Streams bytes of unknown digest into the store; returns their digest and size. */
  put(source: ReadableStream<Uint8Array>, options?: PutBlobOptions): Promise<DigestResult>;
  /** Stores a small blob held in memory. */
  putBytes(bytes: Uint8Array, signal?: AbortSignal): Promise<DigestResult>;
  /** Stores a blob of known descriptor, checking its size and digest as it arrives. */
  copy(descriptor: Descriptor, open: BlobOpener, options?: CopyBlobOptions): Promise<CopyBlobResult>;
}

/** An image a sink already holds: its descriptor (with annotations), manifest and config. */
export interface StoredImage {
  /** The manifest's bytes. */
  raw: RawManifest;
  /** The manifest's descriptor, with the annotations the sink keeps (a layout's index entry). */
  descriptor: Descriptor;
  /** The manifest. */
  manifest: ImageManifest;
  /** The config. */
  config: ImageConfig;
}

/** A writable destination for one image (a manifest, or an index with its manifests). */
export interface ImageSink {
  /** The transport name, for messages. */
  readonly description: string;
  /** Where blobs go. */
  readonly blobs: BlobStore;
  /**
   * Images already at the destination whose layers a build may reuse: a
   * layout's images, the image behind a registry's tag, none in a new
   * archive.
   */
  previousImages(signal?: AbortSignal): Promise<StoredImage[]>;
  /** Stores a manifest by digest (children before their index); true when it was not there yet. */
  putManifest(raw: RawManifest, signal?: AbortSignal): Promise<boolean>;
  /**
   * Records the root manifest or index under the sink's name and makes the
   * result visible, all at once where the format allows. Resolves to
   * whether a tag was written or moved.
   */
  commit(root: RawManifest, signal?: AbortSignal): Promise<boolean>;
  /**
   * Lists `referrer` (a manifest whose blobs are already in
   * {@linkcode ImageSink.blobs}) as attached to `subject`, after
   * {@linkcode ImageSink.commit}: through the referrers API where the
   * registry has it, else by appending to the `sha256-<hex>` fallback index
   * (other entries stay). Resolves to false when it was listed already.
   * Absent where the format cannot hold referrers (a docker-archive).
   */
  putReferrer?(referrer: RawManifest, subject: Descriptor, signal?: AbortSignal): Promise<boolean>;
  /**
   * True where referrers are written together with the image (an
   * oci-archive): {@linkcode ImageSink.putReferrer} is called before
   * {@linkcode ImageSink.commit} then, not after.
   */
  readonly referrersBeforeCommit?: boolean;
  /** Removes whatever this sink wrote; the destination is as before. */
  abort(): Promise<void>;
  /** Releases files and connections. */
  close(): void;
}

/** An image's manifests (children first, root last) and its distinct blobs. */
export interface ImageContents {
  /** Manifests, every child before the index that lists it. */
  manifests: RawManifest[];
  /** Blobs by digest (foreign layers left out). */
  blobs: Map<string, Descriptor>;
}

/** How deep indexes may nest (an index of indexes of manifests is 2). */
const MAX_INDEX_DEPTH = 4;

function tooDeep(where: string): AptOstreeError {
  return new AptOstreeError(`${where}: indexes nested more than ${MAX_INDEX_DEPTH} deep`, {
    solution: "The image is malformed; ask its publisher for a flat index",
  });
}

/**
 * Reads every manifest of an image (recursing into indexes) and collects
 * its blobs.
 *
 * @example
 * ```ts
 * import { collectImage } from "./image.ts";
 * import { LayoutSource } from "../layout/source.ts";
 * const source = await LayoutSource.open("out.oci", "latest");
 * const { manifests, blobs } = await collectImage(source, await source.root());
 * ```
 */
export async function collectImage(
  source: ImageSource,
  root: RawManifest,
  signal?: AbortSignal,
): Promise<ImageContents> {
  const manifests: RawManifest[] = [];
  const blobs = new Map<string, Descriptor>();
  const seen = new Set<string>();
  const visit = async (raw: RawManifest, depth: number): Promise<void> => {
    if (depth > MAX_INDEX_DEPTH) throw tooDeep(source.description);
    if (seen.has(raw.digest)) return;
    seen.add(raw.digest);
    const parsed = parseManifest(raw, source.description);
    if (parsed.kind === "index") {
      for (const child of parsed.index.manifests) {
        await visit(await source.manifest(child, signal), depth + 1);
      }
    } else {
      for (const blob of [parsed.manifest.config, ...parsed.manifest.layers]) {
        if (isForeignLayer(blob)) continue;
        blobs.set(blob.digest, { mediaType: blob.mediaType, digest: blob.digest, size: blob.size });
      }
    }
    manifests.push(raw);
  };
  await visit(root, 0);
  return { manifests, blobs };
}

/** One image of a source, resolved for a platform. */
export interface ResolvedImage {
  /** The root the name points at (an index, or the manifest itself). */
  root: RawManifest;
  /** The manifest for the platform. */
  raw: RawManifest;
  /** It, parsed. */
  manifest: ImageManifest;
  /** Digest of the outermost index, when the root is one. */
  indexDigest?: string;
}

/**
 * Resolves a source to the single manifest for `platform`, through any
 * nesting of indexes (the one platform resolver).
 *
 * @example
 * ```ts
 * import { resolveImage } from "./image.ts";
 * import { LayoutSource } from "../layout/source.ts";
 * const source = await LayoutSource.open("out.oci", "latest");
 * const { manifest } = await resolveImage(source, { architecture: "amd64", os: "linux" });
 * ```
 */
export async function resolveImage(
  source: ImageSource,
  platform: Platform,
  signal?: AbortSignal,
  root?: RawManifest,
): Promise<ResolvedImage> {
  const top = root ?? await source.root(signal);
  let raw = top;
  for (let depth = 0; depth <= MAX_INDEX_DEPTH; depth++) {
    const parsed = parseManifest(raw, source.description);
    if (parsed.kind === "manifest") {
      return { root: top, raw, manifest: parsed.manifest, ...(top !== raw ? { indexDigest: top.digest } : {}) };
    }
    raw = await source.manifest(selectPlatform(parsed.index, platform, source.description), signal);
  }
  throw tooDeep(source.description);
}
