/**
 * A registry as an image sink (`docker://HOST/NAME[:TAG]`), the write side
 * of the registry format beside {@linkcode RegistrySource} (`source.ts`): blobs of
 * unknown digest stream up in one session (a layer as it is compressed),
 * blobs of known digest are skipped when present, mounted from another
 * repository of the same registry when one is known to have them, or
 * uploaded (resumed after a cut connection); manifests go up by digest and
 * the tag last, so a failed copy never leaves a tag pointing at missing
 * blobs. {@linkcode RegistrySink.previousImages} returns the image behind
 * the tag, so a rebuild reuses the layers the registry already holds.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { type DigestResult, DigestStream, sha256Digest } from "../digest/digest.ts";
import {
  type BlobOpener,
  type BlobStore,
  type CopyBlobOptions,
  type CopyBlobResult,
  type ImageSink,
  MAX_SMALL_BLOB,
  type PutBlobOptions,
  type StoredImage,
} from "../oci/image.ts";
import {
  isManifestMediaType,
  parseImageConfig,
  parseManifest,
  rawDescriptor,
  type RawManifest,
} from "../oci/manifest.ts";
import type { Descriptor } from "../oci/types.ts";
import {
  appendReferrer,
  indexManifest,
  parseReferrersIndex,
  referrerDescriptor,
  referrersTag,
} from "../oci/referrers.ts";
import { type DockerLocation, formatImageLocation } from "../reference/transport.ts";
import { knownRepositories, recordBlobLocations } from "./blob_locations.ts";
import { DEFAULT_CHUNK_SIZE, uploadBlob } from "./blob_upload.ts";
import { RegistryClient, type RegistryOptions, type RegistryRepository } from "./client.ts";

/** Options for {@linkcode RegistrySink}. */
export interface RegistrySinkOptions extends RegistryOptions {
  /** Chunk size for large blobs (default 16 MiB; 0: one streaming request per blob). */
  chunkSize?: number;
  /** Aborts requests; upload sessions are cancelled and no tag is written. */
  signal?: AbortSignal;
}

/** A registry repository as a blob store. */
export class RegistryBlobStore implements BlobStore {
  /** Digests this store wrote or found, recorded for cross-repository mounts once the image is committed. */
  readonly written: Set<string> = new Set();

  constructor(readonly repo: RegistryRepository, private readonly options: RegistrySinkOptions) {}

  async has(digest: string, signal?: AbortSignal): Promise<boolean> {
    return (await this.repo.statBlob(digest, [this.repo.pushScope], signal ?? this.options.signal)).exists;
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
    this.written.add(result.digest);
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

  async putBytes(bytes: Uint8Array, signal?: AbortSignal): Promise<DigestResult> {
    const descriptor = { mediaType: "application/octet-stream", digest: sha256Digest(bytes), size: bytes.length };
    if (!(await this.has(descriptor.digest, signal))) {
      await this.copy(descriptor, () => Promise.resolve(ReadableStream.from([bytes])), { signal });
    }
    return { digest: descriptor.digest, size: descriptor.size };
  }

  /**
   * Uploads a blob of known digest: mounted when the source is another
   * repository of this registry (or one that is known to hold it), else
   * sent, resumed from where a cut connection left it; the registry checks
   * the digest when the upload is closed.
   */
  async copy(descriptor: Descriptor, open: BlobOpener, options: CopyBlobOptions = {}): Promise<CopyBlobResult> {
    const host = this.repo.client.host;
    const mountFrom = [
      ...(options.from?.host === host ? [options.from.repository] : []),
      ...(await knownRepositories(host, descriptor.digest)),
    ].filter((r) => r !== this.repo.path);
    const result = await uploadBlob(this.repo, descriptor, open, {
      chunkSize: this.options.chunkSize ?? DEFAULT_CHUNK_SIZE,
      mountFrom: [...new Set(mountFrom)],
      signal: options.signal ?? this.options.signal,
      onBytes: options.onBytes,
    });
    this.written.add(descriptor.digest);
    return { mounted: result.mounted, bytesSent: result.bytesSent };
  }
}

/**
 * A registry repository as an image destination (`docker://HOST/NAME:TAG`):
 * blobs first, manifests by digest, the tag last, so that a failed copy
 * never leaves a tag pointing at missing blobs.
 */
export class RegistrySink implements ImageSink {
  /** Manifests known to be in the repository (written or found by this sink). */
  private readonly manifestsStored = new Set<string>();

  private constructor(
    readonly destination: DockerLocation,
    readonly blobs: RegistryBlobStore,
  ) {}

  /** `docker://HOST/NAME[:TAG|@DIGEST]`. */
  get description(): string {
    return formatImageLocation(this.destination);
  }

  /**
   * Connects to the destination's registry.
   *
   * @example
   * ```ts
   * import { RegistrySink } from "./sink.ts";
   * import { parseImageLocation } from "../reference/transport.ts";
   * const sink = await RegistrySink.open(parseImageLocation("docker://localhost:5000/app:1") as never, { tlsVerify: false });
   * ```
   */
  static async open(destination: DockerLocation, options: RegistrySinkOptions = {}): Promise<RegistrySink> {
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
    return new RegistrySink(destination, new RegistryBlobStore(repo, options));
  }

  /** The repository. */
  get repo(): RegistryRepository {
    return this.blobs.repo;
  }

  /**
   * The image the tag points at now (each platform's, for an index): a
   * rebuild reuses its layers when the registry still has them.
   */
  async previousImages(signal?: AbortSignal): Promise<StoredImage[]> {
    const tag = this.destination.ref.tag;
    if (tag === undefined || !(await this.repo.statManifest(tag, [this.repo.pushScope], signal))) return [];
    const root = await this.repo.getManifest(tag, signal);
    const parsed = parseManifest(root, this.description);
    const raws = parsed.kind === "manifest" ? [root] : await Promise.all(
      parsed.index.manifests.filter((d) => isManifestMediaType(d.mediaType)).slice(0, MAX_PREVIOUS)
        .map((d) => this.repo.getManifest(d.digest, signal)),
    );
    const images: StoredImage[] = [];
    for (const raw of raws) {
      const manifest = parseManifest(raw, this.description);
      if (manifest.kind !== "manifest") continue;
      // fetchBlobBytes checks the digest (and so the size).
      const configBytes = await this.repo.fetchBlobBytes(manifest.manifest.config.digest, MAX_SMALL_BLOB, signal);
      const config = parseImageConfig(configBytes, this.description);
      images.push({ raw, descriptor: rawDescriptor(raw), manifest: manifest.manifest, config });
    }
    return images;
  }

  /** Uploads a manifest by digest unless the repository has it; true when uploaded. */
  async putManifest(raw: RawManifest, signal?: AbortSignal): Promise<boolean> {
    if (this.manifestsStored.has(raw.digest)) return false;
    const existing = await this.repo.statManifest(raw.digest, [this.repo.pushScope], signal);
    if (!existing) await this.repo.putManifest(raw.digest, raw, signal);
    this.manifestsStored.add(raw.digest);
    return !existing;
  }

  /** The manifest by digest, then the tag (unless it already points there); true when the tag was written. */
  async commit(root: RawManifest, signal?: AbortSignal): Promise<boolean> {
    const { ref } = this.destination;
    if (ref.digest !== undefined && ref.digest !== root.digest) {
      throw new UsageError(`The image's digest is ${root.digest}, not ${ref.digest} as the destination names`, {
        solution: "Push to a tag, or name the digest the image has",
      });
    }
    await this.putManifest(root, signal);
    await recordBlobLocations(
      { registry: this.destination.host, repository: this.destination.repository },
      this.blobs.written,
    );
    if (ref.tag === undefined) return false;
    const existing = await this.repo.statManifest(ref.tag, [this.repo.pushScope], signal);
    if (existing?.digest === root.digest) return false;
    await this.repo.putManifest(ref.tag, root, signal);
    return true;
  }

  /**
   * Uploads a referrer by digest and lists it: a registry with the
   * referrers API does so itself (it answers with `OCI-Subject`); otherwise
   * the referrer is appended to the index under the fallback tag
   * `sha256-<hex>`, which keeps whatever other tools listed there.
   */
  async putReferrer(referrer: RawManifest, subject: Descriptor, signal?: AbortSignal): Promise<boolean> {
    const existing = await this.repo.statManifest(referrer.digest, [this.repo.pushScope], signal);
    if (!existing) {
      const headers = await this.repo.putManifest(referrer.digest, referrer, signal);
      this.manifestsStored.add(referrer.digest);
      if (headers.get("oci-subject") === subject.digest) return true;
    } else {
      const listed = await this.repo.getReferrers(subject.digest, signal);
      if (listed && parseReferrersIndex(listed, this.description).manifests.some((m) => m.digest === referrer.digest)) {
        return false;
      }
    }
    const tag = referrersTag(subject.digest);
    const current = (await this.repo.statManifest(tag, [this.repo.pushScope], signal))
      ? parseReferrersIndex(await this.repo.getManifest(tag, signal), `${this.repo.name}:${tag}`)
      : undefined;
    const next = appendReferrer(current, referrerDescriptor(referrer));
    if (next === undefined) return false;
    await this.repo.putManifest(tag, indexManifest(next), signal);
    return true;
  }

  /** Nothing to undo: blobs without a manifest are invisible and the registry collects them. */
  async abort(): Promise<void> {}

  /** Releases connections. */
  close(): void {
    this.repo.client.close();
  }
}

/** How many platforms of a previous index are read for layer reuse. */
const MAX_PREVIOUS = 16;
