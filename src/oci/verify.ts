/**
 * Checking bytes against the descriptor that names them, written once:
 * {@linkcode verifyingStream} for blobs that stream (a size cap on every
 * chunk, the digest at the end) and {@linkcode checkBlobBytes} for small
 * blobs read whole. Both say the same thing when bytes do not match.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { AptOstreeError } from "../errors.ts";
import { sha256Digest } from "../digest/digest.ts";
import type { Descriptor } from "./types.ts";

/** Largest config or manifest read into memory. */
export const MAX_SMALL_BLOB = 16 << 20;

/** Bytes that are not what their descriptor says (wrong size or digest). */
export class BlobMismatchError extends AptOstreeError {
  constructor(readonly descriptor: Descriptor, where: string, detail: string) {
    super(`Blob ${descriptor.digest} in ${where} does not match its descriptor (${detail})`, {
      solution: "The image is damaged or was changed; check it with: apt-ostree image verify, or fetch it again",
    });
    this.name = "BlobMismatchError";
  }
}

function mismatch(descriptor: Descriptor, where: string, detail: string): BlobMismatchError {
  return new BlobMismatchError(descriptor, where, detail);
}

/**
 * A pass-through stream that fails as soon as more bytes than
 * `descriptor.size` arrive, and at the end unless the bytes have exactly
 * that size and digest. Nothing downstream sees the end of a stream that
 * does not match.
 *
 * @example
 * ```ts
 * import { verifyingStream } from "./verify.ts";
 * import { sha256Digest } from "../digest/digest.ts";
 * const bytes = new TextEncoder().encode("{}");
 * const descriptor = { mediaType: "x", digest: sha256Digest(bytes), size: 2 };
 * await ReadableStream.from([bytes]).pipeThrough(verifyingStream(descriptor, "test")).pipeTo(new WritableStream());
 * ```
 */
export function verifyingStream(descriptor: Descriptor, where: string): TransformStream<Uint8Array, Uint8Array> {
  if (!descriptor.digest.startsWith("sha256:")) {
    throw new AptOstreeError(`Unsupported digest algorithm in ${descriptor.digest} (${where})`, {
      solution: "Only sha256 digests are supported",
    });
  }
  const hash = createHash("sha256");
  let size = 0;
  return new TransformStream({
    transform(chunk, controller) {
      size += chunk.length;
      if (size > descriptor.size) {
        throw mismatch(descriptor, where, `more than the ${descriptor.size} bytes it names`);
      }
      hash.update(chunk);
      controller.enqueue(chunk);
    },
    flush() {
      if (size !== descriptor.size) throw mismatch(descriptor, where, `${size} bytes, expected ${descriptor.size}`);
      const digest = `sha256:${hash.digest("hex")}`;
      if (digest !== descriptor.digest) throw mismatch(descriptor, where, `its bytes hash to ${digest}`);
    },
  });
}

/**
 * Checks that small blob bytes match their descriptor; returns them.
 *
 * @example
 * ```ts
 * import { checkBlobBytes } from "./verify.ts";
 * import { sha256Digest } from "../digest/digest.ts";
 * const bytes = new TextEncoder().encode("{}");
 * checkBlobBytes(bytes, { mediaType: "x", digest: sha256Digest(bytes), size: 2 }, "test");
 * ```
 */
export function checkBlobBytes(bytes: Uint8Array, descriptor: Descriptor, where: string): Uint8Array {
  if (bytes.length !== descriptor.size) {
    throw mismatch(descriptor, where, `${bytes.length} bytes, expected ${descriptor.size}`);
  }
  const digest = sha256Digest(bytes);
  if (digest !== descriptor.digest) throw mismatch(descriptor, where, `its bytes hash to ${digest}`);
  return bytes;
}
