/**
 * Reading an image from a registry (`docker://HOST/NAME[:TAG|@DIGEST]`).
 *
 * @module
 */

import { RegistryClient, type RegistryOptions, type RegistryRepository } from "./client.ts";
import type { RawManifest } from "../oci/manifest.ts";
import type { Descriptor } from "../oci/types.ts";
import type { DockerLocation } from "../reference/transport.ts";
import { checkBlobBytes, type ImageSource, MAX_SMALL_BLOB } from "../oci/image.ts";
import { parseReferrersIndex, referrersTag } from "../oci/referrers.ts";

/**
 * A stream that drops its first `count` bytes (for a registry that ignored
 * a `Range` request).
 *
 * @example
 * ```ts
 * import { skipBytes } from "./source.ts";
 * const rest = ReadableStream.from([new Uint8Array([1, 2, 3])]).pipeThrough(skipBytes(2)); // [3]
 * ```
 */
export function skipBytes(count: number): TransformStream<Uint8Array, Uint8Array> {
  let left = count;
  return new TransformStream({
    transform(chunk, controller) {
      if (left >= chunk.length) {
        left -= chunk.length;
        return;
      }
      controller.enqueue(left > 0 ? chunk.subarray(left) : chunk);
      left = 0;
    },
  });
}

/** An image in a registry. */
export class RegistrySource implements ImageSource {
  readonly local = false;

  private constructor(
    readonly description: string,
    readonly location: DockerLocation,
    readonly repo: RegistryRepository,
  ) {}

  /** Registry and repository, for cross-repository mounts. */
  get registry(): { host: string; repository: string } {
    return { host: this.location.host, repository: this.location.repository };
  }

  /** The image's name. */
  get imageName(): string {
    return this.location.ref.fullName;
  }

  /**
   * Connects to the registry of `location`.
   *
   * @example
   * ```ts
   * import { RegistrySource } from "./source.ts";
   * import { parseImageLocation } from "../reference/transport.ts";
   * const source = await RegistrySource.open(parseImageLocation("docker://localhost:5000/app:1") as never, { tlsVerify: false });
   * ```
   */
  static async open(location: DockerLocation, options: RegistryOptions): Promise<RegistrySource> {
    const client = await RegistryClient.create(
      location.host,
      options,
      location.ref.domain ?? "docker.io",
      location.repository,
    );
    const ref = location.ref;
    const description = `docker://${ref.name}${ref.tag !== undefined ? `:${ref.tag}` : ""}${
      ref.digest !== undefined ? `@${ref.digest}` : ""
    }`;
    return new RegistrySource(description, location, client.repository(location.repository));
  }

  async root(signal?: AbortSignal): Promise<RawManifest> {
    const ref = this.location.ref;
    return await this.repo.getManifest(ref.digest ?? ref.tag ?? "latest", signal);
  }

  async manifest(descriptor: Descriptor, signal?: AbortSignal): Promise<RawManifest> {
    const raw = await this.repo.getManifest(descriptor.digest, signal);
    return { ...raw, mediaType: raw.mediaType || descriptor.mediaType };
  }

  async openBlob(descriptor: Descriptor, offset = 0, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const opened = await this.repo.openBlob(descriptor.digest, { offset, signal });
    if (opened.offset === offset) return opened.body;
    return opened.body.pipeThrough(skipBytes(offset - opened.offset));
  }

  async blobBytes(descriptor: Descriptor, signal?: AbortSignal): Promise<Uint8Array> {
    const bytes = await this.repo.fetchBlobBytes(descriptor.digest, Math.min(descriptor.size, MAX_SMALL_BLOB), signal);
    return checkBlobBytes(bytes, descriptor, this.description);
  }

  /** The referrers API's list when the registry has one, else the fallback tag's index (none: empty). */
  async referrers(subject: Descriptor, signal?: AbortSignal): Promise<Descriptor[]> {
    const listed = await this.repo.getReferrers(subject.digest, signal);
    if (listed) return parseReferrersIndex(listed, this.description).manifests;
    const tag = referrersTag(subject.digest);
    if (!(await this.repo.statManifest(tag, [this.repo.pullScope], signal))) return [];
    return parseReferrersIndex(await this.repo.getManifest(tag, signal), `${this.repo.name}:${tag}`).manifests;
  }

  close(): void {
    this.repo.client.close();
  }
}
