/**
 * Reading an image from a tar archive without unpacking it: the members
 * are indexed (name → offset, size) by reading headers only, and blobs are
 * read in place. An archive with `index.json` (oci-archive, and the
 * docker-archives that Docker 25+ and apt-ostree write) is read as an OCI
 * layout; a classic `docker save` archive (`manifest.json` only) gets an
 * OCI manifest made from its config and layers (digests computed).
 *
 * @module
 */

import { resolve } from "node:path";
import { AptOstreeError } from "../errors.ts";
import { DigestStream, sha256Digest } from "../digest/digest.ts";
import { parsePaxRecords, parseTarHeader, TAR_BLOCK } from "../tar/reader.ts";
import { MEDIA_TYPE_LAYER_TAR, type RawManifest, rawManifest, sniffCompression } from "../oci/manifest.ts";
import {
  ANNOTATION_CONTAINERD_NAME,
  ANNOTATION_REF_NAME,
  type Descriptor,
  type DockerArchiveManifestEntry,
  type ImageIndex,
  type ImageManifest,
  MEDIA_TYPE_CONFIG,
  MEDIA_TYPE_MANIFEST,
} from "../oci/types.ts";
import { LAYER_MEDIA_TYPES } from "../compress/compression.ts";
import { jsonBytes } from "../oci/image_config.ts";
import type { DockerArchiveLocation, OciArchiveLocation } from "../reference/transport.ts";
import { fsError } from "../util/fs.ts";
import { checkBlobBytes, type ImageSource, MAX_SMALL_BLOB } from "../oci/image.ts";
import { selectIndexEntry } from "../layout/source.ts";
import { parseReferrersIndex, referrerDescriptor, referrersTag, subjectOf } from "../oci/referrers.ts";
import { digestHex } from "../digest/digest.ts";

/** Where a member's data is in the archive. */
interface Member {
  offset: number;
  size: number;
}

/**
 * Indexes the regular files of a tar file: name (without `./`) → data
 * offset and size.
 *
 * @example
 * ```ts
 * import { indexTarFile } from "./source.ts";
 * const members = await indexTarFile("image.tar");
 * members.has("index.json");
 * ```
 */
export async function indexTarFile(path: string): Promise<Map<string, Member>> {
  const members = new Map<string, Member>();
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new AptOstreeError(`Archive not found: ${path}`, { solution: "Check the path" });
    }
    throw fsError("read", path, error);
  }
  try {
    const size = (await file.stat()).size;
    let offset = 0;
    let longName: string | undefined;
    let paxPath: string | undefined;
    const block = new Uint8Array(TAR_BLOCK);
    const readAt = async (buf: Uint8Array, at: number) => {
      await file.seek(at, Deno.SeekMode.Start);
      let filled = 0;
      while (filled < buf.length) {
        const n = await file.read(buf.subarray(filled));
        if (n === null) throw new AptOstreeError(`Archive ${path} is truncated`, { solution: "Copy it again" });
        filled += n;
      }
    };
    while (offset + TAR_BLOCK <= size) {
      await readAt(block, offset);
      const header = parseTarHeader(block, path);
      if (header === "zero") break;
      const dataOffset = offset + TAR_BLOCK;
      const padded = Math.ceil(header.size / TAR_BLOCK) * TAR_BLOCK;
      offset = dataOffset + padded;
      if (header.typeflag === "x" || header.typeflag === "L") {
        if (header.size > 1 << 20) throw new AptOstreeError(`Archive ${path} has an oversized header`);
        const data = new Uint8Array(header.size);
        await readAt(data, dataOffset);
        if (header.typeflag === "L") longName = new TextDecoder().decode(data).replace(/\0.*$/s, "");
        else {
          const p = parsePaxRecords(data, path).get("path");
          if (p) paxPath = new TextDecoder().decode(p);
        }
        continue;
      }
      const name = (paxPath ?? longName ?? new TextDecoder().decode(header.name)).replace(/^(\.\/)+/, "");
      paxPath = undefined;
      longName = undefined;
      if (header.typeflag === "0" || header.typeflag === "\0" || header.typeflag === "7") {
        members.set(name, { offset: dataOffset, size: header.size });
      }
    }
    if (members.size === 0) {
      throw new AptOstreeError(`${path} is not an image archive (no files in it)`, {
        solution: "Name an oci-archive or docker-archive tar",
      });
    }
    return members;
  } finally {
    file.close();
  }
}

/** Reads `length` bytes at `offset` of a file as a stream (the file is closed at the end). */
async function fileRange(path: string, offset: number, length: number): Promise<ReadableStream<Uint8Array>> {
  const file = await Deno.open(path);
  await file.seek(offset, Deno.SeekMode.Start);
  let left = length;
  const reader = file.readable.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (left <= 0) {
        controller.close();
        await reader.cancel().catch(() => {});
        return;
      }
      const { done, value } = await reader.read();
      if (done) {
        controller.error(new AptOstreeError(`Archive ${path} is truncated`, { solution: "Copy it again" }));
        return;
      }
      const chunk = value.length > left ? value.subarray(0, left) : value;
      left -= chunk.length;
      controller.enqueue(chunk);
    },
    async cancel() {
      await reader.cancel().catch(() => {});
    },
  });
}

/** An image in an oci-archive or docker-archive. */
export class ArchiveSource implements ImageSource {
  readonly local = true;

  private constructor(
    readonly description: string,
    private readonly path: string,
    private readonly members: Map<string, Member>,
    /** Blob digest → member name (classic docker archives). */
    private readonly blobNames: Map<string, string>,
    private readonly rootManifest: RawManifest | undefined,
    private readonly entry: Descriptor | undefined,
    readonly imageName: string | undefined,
    /** The archive's index.json (archives that have one). */
    private readonly index?: ImageIndex,
  ) {}

  /**
   * Opens an archive and selects the image.
   *
   * @example
   * ```ts
   * import { ArchiveSource } from "./source.ts";
   * const source = await ArchiveSource.open({ transport: "oci-archive", path: "image.tar", tag: undefined });
   * ```
   */
  static async open(location: OciArchiveLocation | DockerArchiveLocation): Promise<ArchiveSource> {
    const path = resolve(location.path);
    const description = location.transport === "oci-archive"
      ? `oci-archive:${location.path}${location.tag !== undefined ? `:${location.tag}` : ""}`
      : `docker-archive:${location.path}${location.ref ? `:${location.ref.familiarName}` : ""}`;
    const members = await indexTarFile(path);
    const readMember = async (name: string): Promise<Uint8Array> => {
      const m = members.get(name);
      if (!m) throw new AptOstreeError(`${description} has no ${name}`, { solution: "The archive is incomplete" });
      if (m.size > MAX_SMALL_BLOB) throw new AptOstreeError(`${name} in ${description} is too large`);
      return new Uint8Array(await new Response(await fileRange(path, m.offset, m.size)).arrayBuffer());
    };
    if (members.has("index.json")) {
      let index: ImageIndex;
      try {
        index = JSON.parse(new TextDecoder().decode(await readMember("index.json")));
      } catch {
        throw new AptOstreeError(`index.json in ${description} is not JSON`, { solution: "The archive is damaged" });
      }
      if (!Array.isArray(index?.manifests)) {
        throw new AptOstreeError(`index.json in ${description} is not an image index`);
      }
      let tag: string | undefined;
      if (location.transport === "oci-archive") tag = location.tag;
      else if (location.ref) {
        const wanted = location.ref.fullName;
        const byName = index.manifests.filter((m) => m.annotations?.[ANNOTATION_CONTAINERD_NAME] === wanted);
        tag = byName.length === 1 ? wanted : location.ref.tag;
      }
      const entry = selectIndexEntry(index, tag, description);
      return new ArchiveSource(
        description,
        path,
        members,
        new Map(),
        undefined,
        entry,
        entry.annotations?.[ANNOTATION_CONTAINERD_NAME],
        index,
      );
    }
    if (location.transport === "oci-archive") {
      throw new AptOstreeError(`${description} has no index.json: it is not an oci-archive`, {
        solution: "For a docker save archive, use docker-archive:",
      });
    }
    if (!members.has("manifest.json")) {
      throw new AptOstreeError(`${description} has neither index.json nor manifest.json`, {
        solution: "Name an archive written by docker save, podman save, skopeo or apt-ostree",
      });
    }
    let entries: DockerArchiveManifestEntry[];
    try {
      entries = JSON.parse(new TextDecoder().decode(await readMember("manifest.json")));
    } catch {
      throw new AptOstreeError(`manifest.json in ${description} is not JSON`, { solution: "The archive is damaged" });
    }
    if (!Array.isArray(entries) || entries.length === 0) {
      throw new AptOstreeError(`manifest.json in ${description} lists no image`);
    }
    let chosen = entries[0];
    if (location.ref) {
      const wanted = location.ref.familiarName;
      const found = entries.find((e) => (e.RepoTags ?? []).some((t) => t === wanted || t === location.ref!.fullName));
      if (!found) {
        throw new AptOstreeError(`${description}: no image named ${wanted}`, {
          solution: `Its images: ${entries.flatMap((e) => e.RepoTags ?? []).join(", ") || "(untagged)"}`,
        });
      }
      chosen = found;
    } else if (entries.length > 1) {
      throw new AptOstreeError(`${description} holds several images; name one`, {
        solution: `Add :NAME:TAG; its images: ${entries.flatMap((e) => e.RepoTags ?? []).join(", ")}`,
      });
    }
    // A classic archive: make an OCI manifest from its config and layer files.
    const blobNames = new Map<string, string>();
    const configBytes = await readMember(chosen.Config);
    const configDigest = sha256Digest(configBytes);
    blobNames.set(configDigest, chosen.Config);
    const layers: Descriptor[] = [];
    for (const name of chosen.Layers) {
      const m = members.get(name);
      if (!m) {
        throw new AptOstreeError(`${description} has no layer ${name}`, { solution: "The archive is incomplete" });
      }
      const hash = new DigestStream();
      let head = new Uint8Array(0);
      await (await fileRange(path, m.offset, m.size)).pipeThrough(hash).pipeTo(
        new WritableStream({
          write(chunk) {
            if (head.length < 4) head = Uint8Array.from([...head, ...chunk.subarray(0, 4 - head.length)]);
          },
        }),
      );
      const { digest, size } = await hash.result;
      const compression = sniffCompression(head);
      blobNames.set(digest, name);
      layers.push({
        mediaType: compression === "none" ? MEDIA_TYPE_LAYER_TAR : LAYER_MEDIA_TYPES[compression],
        digest,
        size,
      });
    }
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE_MANIFEST,
      config: { mediaType: MEDIA_TYPE_CONFIG, digest: configDigest, size: configBytes.length },
      layers,
    };
    const root = rawManifest(jsonBytes(manifest), MEDIA_TYPE_MANIFEST);
    return new ArchiveSource(description, path, members, blobNames, root, undefined, chosen.RepoTags?.[0]);
  }

  private memberFor(digest: string): Member {
    const name = this.blobNames.get(digest) ?? `blobs/${digest.replace(":", "/")}`;
    const m = this.members.get(name);
    if (!m) {
      throw new AptOstreeError(`Blob ${digest} is missing from ${this.description}`, {
        solution: "The archive is incomplete; write it again",
      });
    }
    return m;
  }

  async root(): Promise<RawManifest> {
    if (this.rootManifest) return this.rootManifest;
    return await this.manifest(this.entry!);
  }

  async manifest(descriptor: Descriptor): Promise<RawManifest> {
    return rawManifest(await this.blobBytes(descriptor), descriptor.mediaType);
  }

  async openBlob(descriptor: Descriptor, offset = 0): Promise<ReadableStream<Uint8Array>> {
    const m = this.memberFor(descriptor.digest);
    return await fileRange(this.path, m.offset + offset, Math.max(0, m.size - offset));
  }

  async blobBytes(descriptor: Descriptor): Promise<Uint8Array> {
    const m = this.memberFor(descriptor.digest);
    if (m.size > MAX_SMALL_BLOB) throw new AptOstreeError(`Blob ${descriptor.digest} is too large to be a config`);
    const bytes = new Uint8Array(await new Response(await fileRange(this.path, m.offset, m.size)).arrayBuffer());
    return checkBlobBytes(bytes, descriptor, this.description);
  }

  /**
   * The referrers of `subject` in an archive with an `index.json` (an
   * oci-archive as apt-ostree writes it): those the fallback tag
   * `sha256-<hex>` lists, and entries with an `artifactType` whose
   * `subject` it is.
   */
  async referrers(subject: Descriptor): Promise<Descriptor[]> {
    if (!this.index) return [];
    const tag = referrersTag(subject.digest);
    const out = new Map<string, Descriptor>();
    const tagged = this.index.manifests.find((m) => m.annotations?.[ANNOTATION_REF_NAME] === tag);
    if (tagged && this.members.has(`blobs/sha256/${digestHex(tagged.digest)}`)) {
      const raw = await this.manifest(tagged);
      for (const m of parseReferrersIndex(raw, `${this.description} (${tag})`).manifests) out.set(m.digest, m);
    }
    for (const m of this.index.manifests) {
      if (m.artifactType === undefined || out.has(m.digest)) continue;
      const raw = await this.manifest(m);
      if (subjectOf(raw)?.digest === subject.digest) out.set(m.digest, referrerDescriptor(raw));
    }
    return [...out.values()];
  }

  close(): void {}
}
