/**
 * Images held in memory: {@linkcode MemoryImageStore} is a sink and, once
 * committed, a source. For tests of building, copying, reuse and abort
 * that need no file system or registry, and for small images a program
 * makes and inspects on the fly.
 *
 * @module
 */

import { AptOstreeError } from "../errors.ts";
import { type DigestResult, sha256Digest } from "../digest/digest.ts";
import {
  type BlobOpener,
  type BlobStore,
  checkBlobBytes,
  type CopyBlobOptions,
  type CopyBlobResult,
  type ImageSink,
  type ImageSource,
  type PutBlobOptions,
  type StoredImage,
  verifyingStream,
} from "../oci/image.ts";
import { parseImageConfig, parseManifest, rawDescriptor, type RawManifest } from "../oci/manifest.ts";
import type { Descriptor } from "../oci/types.ts";
import { readLimited } from "../util/bounded_read.ts";

async function collect(stream: ReadableStream<Uint8Array>, signal?: AbortSignal): Promise<Uint8Array> {
  signal?.throwIfAborted();
  const bytes = await readLimited(stream, Number.MAX_SAFE_INTEGER, "blob");
  signal?.throwIfAborted();
  return bytes;
}

/** Blobs in a map; those added since the last commit can be taken back. */
class MemoryBlobStore implements BlobStore {
  readonly blobs = new Map<string, Uint8Array>();
  readonly added = new Set<string>();

  has(digest: string): Promise<boolean> {
    return Promise.resolve(this.blobs.has(digest));
  }

  private keep(bytes: Uint8Array): DigestResult {
    const digest = sha256Digest(bytes);
    if (!this.blobs.has(digest)) {
      this.blobs.set(digest, bytes);
      this.added.add(digest);
    }
    return { digest, size: bytes.length };
  }

  async put(source: ReadableStream<Uint8Array>, options: PutBlobOptions = {}): Promise<DigestResult> {
    return this.keep(await collect(source, options.signal));
  }

  putBytes(bytes: Uint8Array): Promise<DigestResult> {
    return Promise.resolve(this.keep(bytes.slice()));
  }

  async copy(descriptor: Descriptor, open: BlobOpener, options: CopyBlobOptions = {}): Promise<CopyBlobResult> {
    const bytes = await collect(
      (await open(0)).pipeThrough(verifyingStream(descriptor, options.where ?? "the source")),
      options.signal,
    );
    options.onBytes?.(bytes.length);
    this.keep(bytes);
    return { mounted: false, bytesSent: bytes.length };
  }
}

/**
 * An image store in memory: write an image into it as into any sink, then
 * read it back as a source. A commit keeps the blobs; an abort drops those
 * added since the last commit.
 *
 * @example
 * ```ts
 * import { MemoryImageStore } from "./memory.ts";
 * import { copyImage } from "./copy.ts";
 * import { LayoutSource } from "../layout/source.ts";
 * const store = new MemoryImageStore("memory:test");
 * await copyImage(await LayoutSource.open("web.oci", "1"), store);
 * console.log((await store.root()).digest);
 * ```
 */
export class MemoryImageStore implements ImageSink, ImageSource {
  readonly local = true;
  readonly blobs: MemoryBlobStore = new MemoryBlobStore();
  private readonly manifests = new Map<string, RawManifest>();
  private committed: RawManifest | undefined;
  /** How many times {@linkcode MemoryImageStore.commit} and {@linkcode MemoryImageStore.abort} ran. */
  readonly calls: { commit: number; abort: number } = { commit: 0, abort: 0 };

  constructor(readonly description: string = "memory:") {}

  async previousImages(): Promise<StoredImage[]> {
    const root = this.committed;
    if (!root) return [];
    const parsed = parseManifest(root, this.description);
    if (parsed.kind !== "manifest") return [];
    const config = parseImageConfig(await this.blobBytes(parsed.manifest.config), this.description);
    return [{ raw: root, descriptor: rawDescriptor(root), manifest: parsed.manifest, config }];
  }

  putManifest(raw: RawManifest): Promise<boolean> {
    const fresh = !this.manifests.has(raw.digest);
    this.manifests.set(raw.digest, raw);
    return Promise.resolve(fresh);
  }

  commit(root: RawManifest): Promise<boolean> {
    this.calls.commit++;
    this.manifests.set(root.digest, root);
    const moved = this.committed?.digest !== root.digest;
    this.committed = root;
    this.blobs.added.clear();
    return Promise.resolve(moved);
  }

  abort(): Promise<void> {
    this.calls.abort++;
    for (const digest of this.blobs.added) this.blobs.blobs.delete(digest);
    this.blobs.added.clear();
    return Promise.resolve();
  }

  close(): void {}

  root(): Promise<RawManifest> {
    if (!this.committed) {
      return Promise.reject(
        new AptOstreeError(`${this.description} holds no image`, { solution: "Copy one in first" }),
      );
    }
    return Promise.resolve(this.committed);
  }

  manifest(descriptor: Descriptor): Promise<RawManifest> {
    const raw = this.manifests.get(descriptor.digest);
    if (!raw) return Promise.reject(this.missing(descriptor));
    return Promise.resolve(raw);
  }

  async openBlob(descriptor: Descriptor, offset = 0): Promise<ReadableStream<Uint8Array>> {
    const bytes = await this.blobBytesUnchecked(descriptor);
    return ReadableStream.from([bytes.subarray(offset)]);
  }

  async blobBytes(descriptor: Descriptor): Promise<Uint8Array> {
    return checkBlobBytes(await this.blobBytesUnchecked(descriptor), descriptor, this.description);
  }

  private blobBytesUnchecked(descriptor: Descriptor): Promise<Uint8Array> {
    const bytes = this.blobs.blobs.get(descriptor.digest);
    return bytes ? Promise.resolve(bytes) : Promise.reject(this.missing(descriptor));
  }

  private missing(descriptor: Descriptor): AptOstreeError {
    return new AptOstreeError(`Blob ${descriptor.digest} is missing from ${this.description}`);
  }
}
