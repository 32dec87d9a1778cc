/**
 * The plug point every output shares: a blob store to stream into, and a
 * commit step that makes the finished image visible all at once (or an
 * abort that leaves the destination as it was). A layout directory, a
 * docker-archive, an oci-archive and (later) a registry all implement it.
 *
 * @module
 */

import type { ImageReference } from "./reference/image_ref.ts";
import type { Descriptor, ImageManifest } from "./oci/types.ts";
import type { DigestResult } from "./digest/digest.ts";

/** Options for {@linkcode BlobStore.put}. */
export interface PutBlobOptions {
  /** Aborts the write; the partial blob is removed. */
  signal?: AbortSignal;
}

/** Content-addressed storage for blobs. */
export interface BlobStore {
  /** Whether a blob is already stored. */
  has(digest: string): Promise<boolean>;
  /** Streams bytes into the store; returns their digest and size. */
  put(source: ReadableStream<Uint8Array>, options?: PutBlobOptions): Promise<DigestResult>;
  /** Stores a small blob held in memory. */
  putBytes(bytes: Uint8Array): Promise<DigestResult>;
}

/** A finished image, ready to be recorded by a target. */
export interface BuiltImage {
  /** The reference it is tagged as. */
  ref: ImageReference;
  /** Its manifest. */
  manifest: ImageManifest;
  /** Descriptor of the manifest blob. */
  descriptor: Descriptor;
}

/** A destination for one image. */
export interface ImageTarget {
  /** Human-readable location (path or URL). */
  readonly location: string;
  /** Where blobs go. */
  readonly blobs: BlobStore;
  /** Records the image and makes the result visible atomically. */
  commit(image: BuiltImage): Promise<void>;
  /** Removes whatever this target wrote; the destination is as before. */
  abort(): Promise<void>;
}
