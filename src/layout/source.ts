/**
 * Reading an image from an OCI layout directory (`oci:PATH[:TAG]`).
 *
 * @module
 */

import { join, resolve } from "node:path";
import { AptOstreeError } from "../errors.ts";
import { digestHex, SHA256_DIGEST_RE } from "../digest/digest.ts";
import { isOciLayout, readLayoutIndex } from "./oci_layout.ts";
import { type RawManifest, rawManifest } from "../oci/manifest.ts";
import { ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, type Descriptor, type ImageIndex } from "../oci/types.ts";
import { fsError, statOrUndefined } from "../util/fs.ts";
import { checkBlobBytes, type ImageSource, MAX_SMALL_BLOB } from "../oci/image.ts";
import { parseReferrersIndex, referrerDescriptor, referrersTag, subjectOf } from "../oci/referrers.ts";

/** Tags of the referrers fallback (`sha256-<hex>`, and cosign's `sha256-<hex>.sig` and such). */
const REFERRERS_TAG_RE = /^sha256-[0-9a-f]{64}(?:\.[a-z]+)?$/;

/**
 * Picks the `index.json` entry a name means: the one tagged `tag`, or the
 * only one when no tag is given.
 *
 * @example
 * ```ts
 * import { selectIndexEntry } from "./source.ts";
 * const d = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: "sha256:" + "a".repeat(64), size: 1,
 *   annotations: { "org.opencontainers.image.ref.name": "1.0" } };
 * selectIndexEntry({ schemaVersion: 2, manifests: [d] }, "1.0", "oci:x").digest; // d.digest
 * ```
 */
export function selectIndexEntry(index: ImageIndex, tag: string | undefined, where: string): Descriptor {
  const tags = index.manifests.map((m) => m.annotations?.[ANNOTATION_REF_NAME]).filter((t) => t !== undefined);
  if (tag !== undefined) {
    const matches = index.manifests.filter((m) =>
      m.annotations?.[ANNOTATION_REF_NAME] === tag || m.annotations?.[ANNOTATION_CONTAINERD_NAME] === tag
    );
    if (matches.length === 1) return matches[0];
    if (matches.length > 1) {
      throw new AptOstreeError(`${where} has several images tagged ${tag}`, {
        solution: "Fix the layout's index.json: a tag names one image",
      });
    }
    throw new AptOstreeError(`${where} has no image tagged ${tag}`, {
      solution: tags.length > 0 ? `Choose one of its tags: ${tags.join(", ")}` : "The layout is empty",
    });
  }
  // Without a tag, referrers (an SBOM's manifest, the `sha256-<hex>` fallback index) are not candidates.
  const images = index.manifests.filter((m) =>
    m.artifactType === undefined && !REFERRERS_TAG_RE.test(m.annotations?.[ANNOTATION_REF_NAME] ?? "")
  );
  if (images.length === 1) return images[0];
  if (index.manifests.length === 0) {
    throw new AptOstreeError(`${where} holds no image`, { solution: "Build or copy an image into it first" });
  }
  throw new AptOstreeError(`${where} holds several images; name one with a tag`, {
    solution: `Add :TAG to the name; its tags: ${tags.join(", ") || "(none)"}`,
  });
}

/** An image in an OCI layout directory. */
export class LayoutSource implements ImageSource {
  readonly local = true;

  private constructor(
    readonly description: string,
    private readonly dir: string,
    private readonly entry: Descriptor,
  ) {}

  /** The image name recorded in `index.json`, when any. */
  get imageName(): string | undefined {
    return this.entry.annotations?.[ANNOTATION_CONTAINERD_NAME];
  }

  /**
   * Opens `dir` and selects the image tagged `tag` (or the only one).
   *
   * @example
   * ```ts
   * import { LayoutSource } from "./source.ts";
   * const source = await LayoutSource.open("out.oci", "latest");
   * ```
   */
  static async open(dir: string, tag: string | undefined): Promise<LayoutSource> {
    const path = resolve(dir);
    const description = `oci:${dir}${tag !== undefined ? `:${tag}` : ""}`;
    const info = await statOrUndefined(path);
    if (!info) {
      throw new AptOstreeError(`OCI layout not found: ${path}`, { solution: "Check the path after oci:" });
    }
    if (!info.isDirectory || !(await isOciLayout(path))) {
      throw new AptOstreeError(`Not an OCI layout: ${path} (no oci-layout and index.json)`, {
        solution: "Name an OCI layout directory with oci:, an archive with oci-archive: or docker-archive:",
      });
    }
    const index = await readLayoutIndex(path);
    return new LayoutSource(description, path, selectIndexEntry(index, tag, description));
  }

  /** Path of a blob in the layout. */
  blobPath(digest: string): string {
    if (!SHA256_DIGEST_RE.test(digest)) {
      throw new AptOstreeError(`Unsupported digest ${digest} in ${this.description}`, {
        solution: "Only sha256 digests are supported",
      });
    }
    return join(this.dir, "blobs", "sha256", digestHex(digest));
  }

  async root(): Promise<RawManifest> {
    return await this.manifest(this.entry);
  }

  async manifest(descriptor: Descriptor): Promise<RawManifest> {
    const bytes = await this.blobBytes(descriptor);
    return rawManifest(bytes, descriptor.mediaType);
  }

  /** Refuses anything but a regular file (a FIFO would block a reader forever; a device is not a blob). */
  private async checkRegular(descriptor: Descriptor, path: string): Promise<void> {
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) throw this.missing(descriptor, path);
      throw fsError("read", path, error);
    }
    if (!info.isFile) {
      throw new AptOstreeError(`Blob ${descriptor.digest} in ${this.description} is not a regular file (${path})`, {
        solution: `The layout is damaged or was tampered with; check it with: apt-ostree image verify oci:${this.dir}`,
      });
    }
  }

  async openBlob(descriptor: Descriptor, offset = 0): Promise<ReadableStream<Uint8Array>> {
    const path = this.blobPath(descriptor.digest);
    await this.checkRegular(descriptor, path);
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) throw this.missing(descriptor, path);
      throw fsError("read", path, error);
    }
    if (offset > 0) await file.seek(offset, Deno.SeekMode.Start);
    return file.readable;
  }

  async blobBytes(descriptor: Descriptor): Promise<Uint8Array> {
    if (descriptor.size > MAX_SMALL_BLOB) {
      throw new AptOstreeError(
        `Blob ${descriptor.digest} in ${this.description} is too large for a manifest or config`,
      );
    }
    const path = this.blobPath(descriptor.digest);
    await this.checkRegular(descriptor, path);
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) throw this.missing(descriptor, path);
      throw fsError("read", path, error);
    }
    return checkBlobBytes(bytes, descriptor, this.description);
  }

  /**
   * The referrers of `subject`: those the fallback tag `sha256-<hex>` lists,
   * and manifests of `index.json` with an `artifactType` whose `subject` it
   * is (as oras writes them).
   */
  async referrers(subject: Descriptor): Promise<Descriptor[]> {
    const index = await readLayoutIndex(this.dir);
    const tag = referrersTag(subject.digest);
    const out = new Map<string, Descriptor>();
    const tagged = index.manifests.find((m) => m.annotations?.[ANNOTATION_REF_NAME] === tag);
    if (tagged) {
      const raw = await this.manifest(tagged);
      for (const m of parseReferrersIndex(raw, `${this.description} (${tag})`).manifests) out.set(m.digest, m);
    }
    for (const m of index.manifests) {
      if (m.artifactType === undefined || out.has(m.digest)) continue;
      const raw = await this.manifest(m);
      if (subjectOf(raw)?.digest === subject.digest) out.set(m.digest, referrerDescriptor(raw));
    }
    return [...out.values()];
  }

  private missing(descriptor: Descriptor, path: string): AptOstreeError {
    return new AptOstreeError(`Blob ${descriptor.digest} is missing from ${this.description} (${path})`, {
      solution: `The layout is incomplete; check it with: apt-ostree image verify oci:${this.dir}`,
    });
  }

  close(): void {}
}
