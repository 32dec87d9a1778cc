/**
 * Pushing images to a registry, the go-containerregistry way: a
 * {@linkcode RegistryTarget} implements the same `ImageTarget` interface as
 * a layout or an archive, and {@linkcode pushImage} copies any
 * {@linkcode ImageSource} into it.
 *
 * Order, so that a failed push never leaves a tag pointing at missing
 * blobs: every blob first (HEAD, and skipped when present; mounted from
 * another repository of the same registry when one is known to have it;
 * else uploaded, several in parallel), then the manifests by digest
 * (children before their index), and the tag last. A rerun skips what is
 * already there, so it sends only what is missing.
 *
 * @module
 */

import { AptOstreeError, UsageError } from "../errors.ts";
import { type DigestResult, DigestStream, sha256Digest } from "../digest/digest.ts";
import type { BlobStore, BuiltImage, ImageTarget, PutBlobOptions } from "../image_target.ts";
import { jsonBytes } from "../oci/image_config.ts";
import { isForeignLayer, parseManifest, type RawManifest } from "../oci/manifest.ts";
import type { Descriptor } from "../oci/types.ts";
import type { DockerLocation } from "../reference/transport.ts";
import type { ImageSource } from "../oci/image.ts";
import { knownRepositories, recordBlobLocations } from "./blob_locations.ts";
import { type BlobOpener, DEFAULT_CHUNK_SIZE, uploadBlob } from "./blob_upload.ts";
import { RegistryClient, type RegistryOptions, type RegistryRepository } from "./client.ts";

/** Options for {@linkcode pushImage} and {@linkcode RegistryTarget}. */
export interface PushOptions extends RegistryOptions {
  /** Chunk size for large blobs (default 16 MiB; 0: one streaming request per blob). */
  chunkSize?: number;
  /** Blobs uploaded at the same time (default 3). */
  concurrency?: number;
  /** Aborts the push; upload sessions are cancelled and no tag is written. */
  signal?: AbortSignal;
  /** Progress, a few times a second. */
  onProgress?: (progress: PushProgress) => void;
}

/** Progress of a push. */
export interface PushProgress {
  /** What is happening. */
  phase: "blobs" | "manifests";
  /** Blobs finished. */
  blobsDone: number;
  /** Blobs in the image. */
  blobsTotal: number;
  /** Bytes of blobs finished or sent so far. */
  bytesDone: number;
  /** Bytes of all blobs. */
  bytesTotal: number;
  /** Milliseconds since the push started. */
  elapsedMs: number;
}

/** Counts of a push. */
export interface PushCounts {
  /** All blobs of the image. */
  total: number;
  /** Uploaded. */
  uploaded: number;
  /** Mounted from another repository. */
  mounted: number;
  /** Already in the repository. */
  skipped: number;
}

/** What {@linkcode pushImage} did. */
export interface PushResult {
  /** The source's transport name. */
  source: string;
  /** The destination, `docker://host/name:tag`. */
  destination: string;
  /** Digest of the pushed manifest (or index). */
  digest: string;
  /** Its media type. */
  mediaType: string;
  /** Manifests (an index and its children, or one manifest). */
  manifests: { total: number; uploaded: number };
  /** Blob counts. */
  blobs: PushCounts;
  /** Byte counts (by blob size), plus `sent`: bytes actually sent, with any resent after failures. */
  bytes: PushCounts & { sent: number };
  /** Whether the tag was written (false when it already pointed at this digest). */
  tagged: boolean;
  /** Duration in milliseconds. */
  elapsedMs: number;
}

/** An image's manifests (children first, root last) and its distinct blobs. */
export interface ImageContents {
  /** Manifests, every child before the index that lists it. */
  manifests: RawManifest[];
  /** Blobs by digest. */
  blobs: Map<string, Descriptor>;
}

/**
 * Reads every manifest of an image (recursing into indexes) and collects
 * its blobs.
 *
 * @example
 * ```ts
 * import { collectImage } from "./sink.ts";
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
    if (depth > 4) throw new AptOstreeError(`${source.description}: indexes nested too deeply`);
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

/** Runs `fn` on every item with at most `limit` running at once; stops at the first failure. */
async function forEachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: { error: unknown } | undefined;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (error) {
        failed ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed) throw failed.error;
}

/** A registry repository as a blob store. */
export class RegistryBlobStore implements BlobStore {
  constructor(readonly repo: RegistryRepository, private readonly options: PushOptions) {}

  async has(digest: string): Promise<boolean> {
    return (await this.repo.statBlob(digest, [this.repo.pushScope], this.options.signal)).exists;
  }

  /** Streams a blob of unknown digest (one session; the digest is computed on the way). */
  async put(source: ReadableStream<Uint8Array>, options: PutBlobOptions = {}): Promise<DigestResult> {
    const signal = options.signal ?? this.options.signal;
    const hash = new DigestStream();
    const start = await this.repo.client.request({
      method: "POST",
      path: `/v2/${this.repo.path}/blobs/uploads/`,
      headers: { "content-length": "0" },
      scopes: [this.repo.pushScope],
      signal,
    });
    if (start.status !== 202) throw await this.repo.error("start an upload to", start);
    await start.body?.cancel();
    const base = await this.repo.client.baseUrl(signal);
    const location = new URL(start.headers.get("location") ?? "", base);
    const patch = await this.repo.client.request({
      method: "PATCH",
      path: location,
      headers: { "content-type": "application/octet-stream" },
      body: () => source.pipeThrough(hash),
      scopes: [this.repo.pushScope],
      signal,
      retry: false,
    });
    if (patch.status !== 202) throw await this.repo.error("upload to", patch);
    await patch.body?.cancel();
    const result = await hash.result;
    const put = new URL(patch.headers.get("location") ?? location.href, base);
    put.searchParams.set("digest", result.digest);
    const done = await this.repo.client.request({
      method: "PUT",
      path: put,
      body: new Uint8Array(0),
      scopes: [this.repo.pushScope],
      signal,
    });
    if (done.status !== 201 && done.status !== 204) throw await this.repo.error("finish an upload to", done);
    await done.body?.cancel();
    return result;
  }

  async putBytes(bytes: Uint8Array): Promise<DigestResult> {
    const descriptor = { mediaType: "application/octet-stream", digest: sha256Digest(bytes), size: bytes.length };
    if (!(await this.has(descriptor.digest))) await this.putBlob(descriptor, () => Promise.resolve(rangeOf(bytes)));
    return { digest: descriptor.digest, size: descriptor.size };
  }

  /** Uploads a blob of known digest (mounting it when another repository has it). */
  putBlob(
    descriptor: Descriptor,
    open: BlobOpener,
    extra: { mountFrom?: string[]; onBytes?: (n: number) => void } = {},
  ): ReturnType<typeof uploadBlob> {
    return uploadBlob(this.repo, descriptor, open, {
      chunkSize: this.options.chunkSize ?? DEFAULT_CHUNK_SIZE,
      mountFrom: extra.mountFrom,
      signal: this.options.signal,
      onBytes: extra.onBytes,
    });
  }
}

function rangeOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return ReadableStream.from([bytes]);
}

/** A registry repository as an image destination. */
export class RegistryTarget implements ImageTarget {
  private constructor(
    readonly location: string,
    readonly destination: DockerLocation,
    readonly blobs: RegistryBlobStore,
  ) {}

  /**
   * Connects to the destination's registry.
   *
   * @example
   * ```ts
   * import { RegistryTarget } from "./sink.ts";
   * import { parseImageLocation } from "../reference/transport.ts";
   * const target = await RegistryTarget.open(parseImageLocation("docker://localhost:5000/app:1") as never, { tlsVerify: false });
   * ```
   */
  static async open(destination: DockerLocation, options: PushOptions = {}): Promise<RegistryTarget> {
    if (destination.ref.digest !== undefined && destination.ref.tag !== undefined) {
      throw new UsageError(`Push to a tag or a digest, not both: ${destination.ref.familiarName}`, {
        solution: "Name the destination docker://HOST/NAME:TAG",
      });
    }
    const client = await RegistryClient.create(
      destination.host,
      options,
      destination.ref.domain ?? "docker.io",
      destination.repository,
    );
    const repo = client.repository(destination.repository);
    return new RegistryTarget(`docker://${destination.ref.name}`, destination, new RegistryBlobStore(repo, options));
  }

  /** The repository. */
  get repo(): RegistryRepository {
    return this.blobs.repo;
  }

  /** Uploads a manifest by digest unless the repository has it; true when uploaded. */
  async putManifestByDigest(raw: RawManifest, signal?: AbortSignal): Promise<boolean> {
    const existing = await this.repo.statManifest(raw.digest, [this.repo.pushScope], signal);
    if (existing) return false;
    await this.repo.putManifest(raw.digest, raw, signal);
    return true;
  }

  /** Points the tag at a manifest (unless it already does); true when written. */
  async tag(tag: string, raw: RawManifest, signal?: AbortSignal): Promise<boolean> {
    const existing = await this.repo.statManifest(tag, [this.repo.pushScope], signal);
    if (existing?.digest === raw.digest) return false;
    await this.repo.putManifest(tag, raw, signal);
    return true;
  }

  /** Records a built image: its manifest by digest, then the tag. */
  async commit(image: BuiltImage): Promise<void> {
    const bytes = jsonBytes(image.manifest);
    if (sha256Digest(bytes) !== image.descriptor.digest) {
      throw new AptOstreeError("The manifest does not match its descriptor", { solution: "This is a bug" });
    }
    const raw: RawManifest = { bytes, mediaType: image.descriptor.mediaType, digest: image.descriptor.digest };
    await this.putManifestByDigest(raw);
    await this.tag(this.destination.ref.tag ?? image.ref.tag ?? "latest", raw);
  }

  /** Nothing to undo: blobs without a manifest are invisible and the registry collects them. */
  async abort(): Promise<void> {}

  /** Releases connections. */
  close(): void {
    this.repo.client.close();
  }
}

/**
 * Pushes an image (a manifest, or an index with all its manifests) to a
 * registry.
 *
 * @example
 * ```ts
 * import { pushImage } from "./sink.ts";
 * import { LayoutSource } from "../layout/source.ts";
 * import { parseImageLocation } from "../reference/transport.ts";
 * const source = await LayoutSource.open("out.oci", "latest");
 * const result = await pushImage(source, parseImageLocation("docker://localhost:5000/app:1") as never, { tlsVerify: false });
 * console.log(result.digest, result.bytes.uploaded);
 * ```
 */
export async function pushImage(
  source: ImageSource,
  destination: DockerLocation,
  options: PushOptions = {},
): Promise<PushResult> {
  const started = performance.now();
  const { signal } = options;
  const target = await RegistryTarget.open(destination, options);
  try {
    const root = await source.root(signal);
    if (destination.ref.digest !== undefined && destination.ref.digest !== root.digest) {
      throw new UsageError(
        `The image's digest is ${root.digest}, not ${destination.ref.digest} as the destination names`,
        { solution: "Push to a tag, or name the digest the image has" },
      );
    }
    const { manifests, blobs } = await collectImage(source, root, signal);
    const list = [...blobs.values()];
    const blobCounts: PushCounts = { total: list.length, uploaded: 0, mounted: 0, skipped: 0 };
    const bytes = { total: 0, uploaded: 0, mounted: 0, skipped: 0, sent: 0 };
    for (const b of list) bytes.total += b.size;
    let bytesDone = 0;
    let blobsDone = 0;
    let phase: PushProgress["phase"] = "blobs";
    const report = () =>
      options.onProgress?.({
        phase,
        blobsDone,
        blobsTotal: list.length,
        bytesDone,
        bytesTotal: bytes.total,
        elapsedMs: performance.now() - started,
      });
    const timer = options.onProgress ? setInterval(report, 200) : undefined;
    const sameRegistry = source.registry?.host === destination.host ? source.registry.repository : undefined;
    try {
      // Largest first: the long uploads start early and overlap the small ones.
      list.sort((a, b) => b.size - a.size);
      await forEachLimited(list, options.concurrency ?? 3, async (blob) => {
        if (await target.blobs.has(blob.digest)) {
          blobCounts.skipped++;
          bytes.skipped += blob.size;
        } else {
          const mountFrom = [
            ...(sameRegistry !== undefined ? [sameRegistry] : []),
            ...(await knownRepositories(destination.host, blob.digest)),
          ].filter((r) => r !== destination.repository);
          let sent = 0;
          const result = await target.blobs.putBlob(
            blob,
            (offset) => source.openBlob(blob, offset, signal),
            {
              mountFrom: [...new Set(mountFrom)],
              onBytes: (n) => {
                sent += n;
                bytesDone += n;
              },
            },
          );
          bytes.sent += result.bytesSent;
          if (result.mounted) {
            blobCounts.mounted++;
            bytes.mounted += blob.size;
          } else {
            blobCounts.uploaded++;
            bytes.uploaded += blob.size;
          }
          bytesDone -= sent;
        }
        bytesDone += blob.size;
        blobsDone++;
      });
      phase = "manifests";
      report();
      let manifestsUploaded = 0;
      for (const raw of manifests) {
        if (await target.putManifestByDigest(raw, signal)) manifestsUploaded++;
      }
      const tagged = destination.ref.tag !== undefined ? await target.tag(destination.ref.tag, root, signal) : false;
      await recordBlobLocations({ registry: destination.host, repository: destination.repository }, blobs.keys());
      return {
        source: source.description,
        destination: `docker://${destination.ref.name}${
          destination.ref.tag !== undefined ? `:${destination.ref.tag}` : ""
        }${destination.ref.digest !== undefined ? `@${destination.ref.digest}` : ""}`,
        digest: root.digest,
        mediaType: root.mediaType,
        manifests: { total: manifests.length, uploaded: manifestsUploaded },
        blobs: blobCounts,
        bytes,
        tagged,
        elapsedMs: Math.round(performance.now() - started),
      };
    } finally {
      if (timer !== undefined) clearInterval(timer);
    }
  } catch (error) {
    throw signal?.aborted ? signal.reason : error;
  } finally {
    target.close();
  }
}
