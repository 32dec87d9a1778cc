/**
 * Where an image is read from: an OCI layout, an oci-archive, a
 * docker-archive or a registry, behind one interface (the reading side of
 * `ImageTarget`). Push, pull, inspect and verify all read through it.
 *
 * @module
 */

import { AptOstreeError } from "../errors.ts";
import { sha256Digest } from "../digest/digest.ts";
import type { RawManifest } from "./manifest.ts";
import type { Descriptor } from "./types.ts";

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
  /** Opens a blob at `offset` (default 0); the caller checks digest and size. */
  openBlob(descriptor: Descriptor, offset?: number, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>>;
  /** Reads a small blob whole, digest and size checked. */
  blobBytes(descriptor: Descriptor, signal?: AbortSignal): Promise<Uint8Array>;
  /** Releases files and connections. */
  close(): void;
}

/** Largest config or manifest read into memory. */
export const MAX_SMALL_BLOB = 16 << 20;

/**
 * Checks that small blob bytes match their descriptor.
 *
 * @example
 * ```ts
 * import { checkBlobBytes } from "./image.ts";
 * import { sha256Digest } from "../digest/digest.ts";
 * const bytes = new TextEncoder().encode("{}");
 * checkBlobBytes(bytes, { mediaType: "x", digest: sha256Digest(bytes), size: 2 }, "test");
 * ```
 */
export function checkBlobBytes(bytes: Uint8Array, descriptor: Descriptor, where: string): Uint8Array {
  const digest = sha256Digest(bytes);
  if (bytes.length !== descriptor.size || digest !== descriptor.digest) {
    throw new AptOstreeError(
      `Blob ${descriptor.digest} in ${where} does not match its descriptor (${bytes.length} bytes, ${digest}; expected ${descriptor.size} bytes)`,
      { solution: "The image is damaged; check it with: apt-ostree image verify, or fetch it again" },
    );
  }
  return bytes;
}
