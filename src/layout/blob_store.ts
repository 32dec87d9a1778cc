/**
 * Blobs in a directory (`blobs/sha256/<hex>` of an OCI layout): each blob is
 * streamed into a temp file, hashed on the way, and renamed into place only
 * when complete. The store remembers which blobs it added so that a failed
 * build can take them back.
 *
 * @module
 */

import { join } from "node:path";
import { digestHex, type DigestResult, DigestStream, sha256Digest } from "../digest/digest.ts";
import {
  type BlobOpener,
  type BlobStore,
  type CopyBlobOptions,
  type CopyBlobResult,
  type PutBlobOptions,
  verifyingStream,
} from "../oci/image.ts";
import type { Descriptor } from "../oci/types.ts";
import { fsError, randomSuffix, removeQuietly, statOrUndefined } from "../util/fs.ts";
import { makeOwnedDir } from "../util/leftovers.ts";

/**
 * A blob store rooted at an OCI layout directory.
 *
 * @example
 * ```ts
 * import { DirBlobStore } from "./blob_store.ts";
 * const store = new DirBlobStore("/tmp/layout", "/tmp/layout/.tmp");
 * const { digest } = await store.putBytes(new TextEncoder().encode("{}"));
 * ```
 */
export class DirBlobStore implements BlobStore {
  private readonly added = new Set<string>();
  private readonly adopting = new Set<Promise<void>>();
  private rolledBack = false;
  private dirsReady: Promise<void> | undefined;

  /**
   * @param root the layout directory (blobs go to `root/blobs/sha256`)
   * @param tempDir where partial blobs are written; same file system as root
   */
  constructor(readonly root: string, readonly tempDir: string) {}

  /** Path of a blob's file. */
  blobPath(digest: string): string {
    return join(this.root, "blobs", "sha256", digestHex(digest));
  }

  /** Digests of the blobs this store added (not those it found). */
  get addedBlobs(): string[] {
    return [...this.added];
  }

  /** Makes the blob and temp directories once (several layers may ask at once). */
  private ensureDirs(): Promise<void> {
    this.dirsReady ??= (async () => {
      const dir = join(this.root, "blobs", "sha256");
      try {
        await Deno.mkdir(dir, { recursive: true });
        // Marked as ours while we live: a later run removes it only once we are gone.
        if (!(await statOrUndefined(this.tempDir))) await makeOwnedDir(this.tempDir);
      } catch (error) {
        this.dirsReady = undefined;
        throw fsError("create", dir, error, "output");
      }
    })();
    return this.dirsReady;
  }

  async has(digest: string): Promise<boolean> {
    return (await statOrUndefined(this.blobPath(digest)))?.isFile === true;
  }

  async put(source: ReadableStream<Uint8Array>, options: PutBlobOptions = {}): Promise<DigestResult> {
    await this.ensureDirs();
    const tmp = join(this.tempDir, `blob-${randomSuffix()}`);
    const hash = new DigestStream();
    try {
      const file = await Deno.open(tmp, { createNew: true, write: true, mode: 0o644 });
      await source.pipeThrough(hash).pipeTo(file.writable, { signal: options.signal });
      const result = await hash.result;
      await this.adopt(tmp, result.digest);
      return result;
    } catch (error) {
      await removeQuietly(tmp);
      if (options.signal?.aborted) throw options.signal.reason;
      throw fsError("write a blob to", this.root, error, "output");
    }
  }

  async putBytes(bytes: Uint8Array): Promise<DigestResult> {
    await this.ensureDirs();
    const digest = sha256Digest(bytes);
    if (await this.has(digest)) return { digest, size: bytes.length };
    const tmp = join(this.tempDir, `blob-${randomSuffix()}`);
    try {
      await Deno.writeFile(tmp, bytes, { createNew: true, mode: 0o644 });
      await this.adopt(tmp, digest);
    } catch (error) {
      await removeQuietly(tmp);
      throw fsError("write a blob to", this.root, error, "output");
    }
    return { digest, size: bytes.length };
  }

  /** Copies a blob of known descriptor in; bytes that do not match it are refused and nothing is kept. */
  async copy(descriptor: Descriptor, open: BlobOpener, options: CopyBlobOptions = {}): Promise<CopyBlobResult> {
    let sent = 0;
    const count = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        sent += chunk.length;
        options.onBytes?.(chunk.length);
        controller.enqueue(chunk);
      },
    });
    const source = (await open(0)).pipeThrough(verifyingStream(descriptor, options.where ?? "the source"))
      .pipeThrough(count);
    await this.put(source, { signal: options.signal });
    return { mounted: false, bytesSent: sent };
  }

  /** Moves a complete temp file into place under its digest. */
  private adopt(tmp: string, digest: string): Promise<void> {
    // After a rollback nothing more is added: a write that was still running when the build failed would
    // otherwise leave a stray blob behind.
    if (this.rolledBack) {
      return Deno.remove(tmp).then(() => Promise.reject(new Error("the blob store was rolled back")));
    }
    const adopting = (async () => {
      if (await this.has(digest)) {
        await Deno.remove(tmp);
        return;
      }
      await Deno.rename(tmp, this.blobPath(digest));
      this.added.add(digest);
    })();
    this.adopting.add(adopting);
    return adopting.finally(() => this.adopting.delete(adopting));
  }

  /** Removes the blobs this store added (waiting for renames under way), and its temp directory. */
  async rollback(): Promise<void> {
    this.rolledBack = true;
    await Promise.allSettled([...this.adopting]);
    for (const digest of this.added) await removeQuietly(this.blobPath(digest));
    this.added.clear();
    await removeQuietly(this.tempDir);
  }

  /** Forgets what was added (after a successful commit) and drops temp files. */
  async finish(): Promise<void> {
    this.added.clear();
    this.dirsReady = undefined; // a later write (a referrer after the image) makes the temp directory again
    await removeQuietly(this.tempDir);
  }
}
