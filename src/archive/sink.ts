/**
 * Image archives: `docker-archive` (what `docker save` writes and `docker
 * load` / `podman load` read) and `oci-archive` (an OCI layout as a tar).
 *
 * Both are one tar holding an OCI layout (`oci-layout`, `index.json`,
 * `blobs/sha256/…`); the docker flavour adds docker's `manifest.json`, as
 * Docker 25+ does, so that one file loads into Docker's classic store, its
 * containerd store, podman and skopeo. Blobs are built in a staging
 * directory first (a tar header needs each blob's size), then streamed into
 * a temp tar that is renamed onto the output.
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { collectLeftovers, makeOwnedDir } from "../util/leftovers.ts";
import { AptOstreeError, UsageError } from "../errors.ts";
import type { ImageSink, StoredImage } from "../oci/image.ts";
import { parseManifest, rawDescriptor, type RawManifest } from "../oci/manifest.ts";
import { DirBlobStore } from "../layout/blob_store.ts";
import {
  emptyIndex,
  LEFTOVER_BESIDE,
  OCI_LAYOUT_FILE_CONTENT,
  swapIntoPlace,
  tagInIndex,
} from "../layout/oci_layout.ts";
import { jsonBytes } from "../oci/image_config.ts";
import type { Descriptor, DockerArchiveManifestEntry, ImageIndex } from "../oci/types.ts";
import { appendReferrer, indexManifest, referrerDescriptor, referrersTag } from "../oci/referrers.ts";
import { encodeTarHeader, END_OF_ARCHIVE, paddingFor } from "../tar/tar_header.ts";
import { digestHex } from "../digest/digest.ts";
import { assertReplaceable, type ReplaceGuardOptions } from "../util/replace_guard.ts";
import { fsError, removeQuietly, siblingTempPath, statOrUndefined, writeAll } from "../util/fs.ts";

/** Archive flavours. */
export type ArchiveFormat = "docker" | "oci-archive";

/** Options for {@linkcode ArchiveSink.open}. */
export interface OpenArchiveOptions {
  /** The tag recorded in the archive's `index.json` (default `latest`). */
  tag?: string;
  /** The full image name recorded in `index.json` (`io.containerd.image.name`), when there is one. */
  name?: string;
  /** The name docker gives the loaded image (`RepoTags`, e.g. `app:1`), for a docker-archive. */
  repoTag?: string;
  /** Replace a directory at the output path (only what {@linkcode assertReplaceable} allows). */
  force?: boolean;
  /** Paths that replacing must never remove, nor anything above them (the OSTree repository). */
  protect?: ReplaceGuardOptions["protect"];
}

/** A file to put into the archive: bytes in memory or a file on disk. */
type ArchiveMember = { name: string; bytes: Uint8Array } | { name: string; path: string; size: number };

/**
 * Writes one image as a docker-archive or oci-archive tar file. Blobs are
 * stored in a staging directory beside the output; the tar is written and
 * renamed onto the output at {@linkcode ArchiveSink.commit}. An
 * oci-archive holds referrers (an SBOM) as an OCI layout does (an
 * `index.json` entry each and the `sha256-<hex>` fallback tag); they are
 * written with the image, so they are given before the commit
 * ({@linkcode ImageSink.referrersBeforeCommit}). A docker-archive holds
 * none.
 *
 * @example
 * ```ts
 * import { ArchiveSink } from "./sink.ts";
 * const sink = await ArchiveSink.open("my-image.tar", "docker", { tag: "1", repoTag: "my-image:1" });
 * // stream blobs into sink.blobs, then: await sink.commit(rawManifest);
 * ```
 */
export class ArchiveSink implements ImageSink {
  /** Referrers given before the commit, in order. */
  private readonly attached: { referrer: RawManifest; subject: Descriptor }[] = [];
  private committed = false;
  /** An oci-archive's referrers go into the tar with the image: they are given before the commit. */
  readonly referrersBeforeCommit: boolean;
  /** Present for an oci-archive (a docker-archive holds no referrers). */
  readonly putReferrer?: (referrer: RawManifest, subject: Descriptor) => Promise<boolean>;

  private constructor(
    /** The archive path. */
    readonly path: string,
    readonly format: ArchiveFormat,
    private readonly staging: string,
    private readonly replace: boolean,
    private readonly options: OpenArchiveOptions,
    readonly blobs: DirBlobStore,
  ) {
    this.referrersBeforeCommit = format === "oci-archive";
    if (format === "oci-archive") this.putReferrer = (referrer, subject) => this.addReferrer(referrer, subject);
  }

  /** Records a referrer to write with the image (its blobs are in {@linkcode ArchiveSink.blobs} already). */
  private async addReferrer(referrer: RawManifest, subject: Descriptor): Promise<boolean> {
    if (this.committed) {
      throw new AptOstreeError(`${this.description} is written already: referrers must be attached before the commit`);
    }
    if (this.attached.some((a) => a.referrer.digest === referrer.digest && a.subject.digest === subject.digest)) {
      return false;
    }
    await this.blobs.putBytes(referrer.bytes);
    this.attached.push({ referrer, subject });
    return true;
  }

  /** index.json: the image under its tag, then each referrer and each subject's fallback index, as a layout has them. */
  private async archiveIndex(root: RawManifest, tag: string, name: string | undefined): Promise<ImageIndex> {
    let index = tagInIndex(emptyIndex(), rawDescriptor(root), tag, name);
    const fallback = new Map<string, ImageIndex | undefined>();
    for (const { referrer, subject } of this.attached) {
      const descriptor = referrerDescriptor(referrer);
      index = { ...index, manifests: [...index.manifests, descriptor] };
      fallback.set(subject.digest, appendReferrer(fallback.get(subject.digest), descriptor));
    }
    for (const [digest, list] of fallback) {
      if (!list) continue;
      const raw = indexManifest(list);
      await this.blobs.putBytes(raw.bytes);
      index = tagInIndex(index, rawDescriptor(raw), referrersTag(digest));
    }
    return index;
  }

  /** `oci-archive:PATH` or `docker-archive:PATH`. */
  get description(): string {
    return `${this.format === "docker" ? "docker-archive" : "oci-archive"}:${this.path}`;
  }

  /**
   * Prepares to write an archive at `path`. An existing regular file is
   * replaced on commit (as `docker save -o` does); anything else that
   * exists is refused unless `force`.
   */
  static async open(path: string, format: ArchiveFormat, options: OpenArchiveOptions = {}): Promise<ArchiveSink> {
    const location = resolve(path);
    await collectLeftovers(dirname(location), LEFTOVER_BESIDE); // staging directories of killed runs
    const info = await statOrUndefined(location);
    if (info && !info.isFile && !options.force) {
      throw new UsageError(`Output path exists and is not a file: ${location}`, {
        solution: "Choose another {output}, or pass {force} to replace it",
      });
    }
    await assertReplaceable(location, { protect: options.protect });
    const staging = siblingTempPath(location);
    try {
      await makeOwnedDir(staging, 0o700);
    } catch (error) {
      if (error instanceof Deno.errors.NotADirectory) {
        throw new UsageError(`The output's parent is not a directory: ${resolve(location, "..")}`, {
          solution: "Choose another {output}",
        });
      }
      if (error instanceof Deno.errors.NotFound) {
        throw new UsageError(`Output directory does not exist: ${resolve(location, "..")}`, {
          solution: "Create it first or choose another {output}",
        });
      }
      throw fsError("create the output", location, error, "output");
    }
    return new ArchiveSink(
      location,
      format,
      staging,
      info !== undefined,
      options,
      new DirBlobStore(join(staging, "layout"), join(staging, "tmp")),
    );
  }

  /** A new archive holds no earlier image. */
  previousImages(): Promise<StoredImage[]> {
    return Promise.resolve([]);
  }

  async putManifest(raw: RawManifest): Promise<boolean> {
    if (await this.blobs.has(raw.digest)) return false;
    await this.blobs.putBytes(raw.bytes);
    return true;
  }

  async commit(root: RawManifest): Promise<boolean> {
    const parsed = parseManifest(root, this.description);
    if (this.format === "docker" && parsed.kind !== "manifest") {
      throw new UsageError(`A docker-archive holds one image, not an index: ${this.description}`, {
        solution: "Copy one platform's image (without {all}), or write an oci-archive: or oci: instead",
      });
    }
    await this.blobs.putBytes(root.bytes);
    const { tag = "latest", name, repoTag } = this.options;
    const index = await this.archiveIndex(root, tag, name);
    this.committed = true;
    const members: ArchiveMember[] = [];
    const blobDir = join(this.blobs.root, "blobs", "sha256");
    const names = (await Array.fromAsync(Deno.readDir(blobDir), (e) => e.name)).sort();
    for (const name of names) {
      const path = join(blobDir, name);
      members.push({ name: `blobs/sha256/${name}`, path, size: (await Deno.stat(path)).size });
    }
    members.push({ name: "index.json", bytes: jsonBytes(index) });
    if (parsed.kind === "manifest" && this.format === "docker") {
      const { manifest } = parsed;
      const entry: DockerArchiveManifestEntry = {
        Config: `blobs/sha256/${digestHex(manifest.config.digest)}`,
        RepoTags: repoTag !== undefined ? [repoTag] : [],
        Layers: manifest.layers.map((l) => `blobs/sha256/${digestHex(l.digest)}`),
      };
      members.push({ name: "manifest.json", bytes: jsonBytes([entry]) });
    }
    members.push({ name: "oci-layout", bytes: new TextEncoder().encode(OCI_LAYOUT_FILE_CONTENT) });

    const tarPath = join(this.staging, "archive.tar");
    try {
      await writeArchive(tarPath, members);
      await Deno.chmod(tarPath, 0o644);
    } catch (error) {
      throw fsError("write", this.path, error, "output");
    }
    await swapIntoPlace(tarPath, this.path, this.replace);
    await removeQuietly(this.staging);
    return true;
  }

  async abort(): Promise<void> {
    await removeQuietly(this.staging);
  }

  close(): void {}
}

/** Writes members (plus their parent directories) as a deterministic tar. */
async function writeArchive(tarPath: string, members: ArchiveMember[]): Promise<void> {
  const file = await Deno.open(tarPath, { createNew: true, write: true, mode: 0o600 });
  try {
    const write = (data: Uint8Array) => writeAll(file, data);
    const dirs = new Set<string>();
    for (const member of members) {
      const parts = member.name.split("/").slice(0, -1);
      for (let i = 1; i <= parts.length; i++) {
        const dir = parts.slice(0, i).join("/");
        if (dirs.has(dir)) continue;
        dirs.add(dir);
        await write(encodeTarHeader({ path: dir, type: "directory", mode: 0o755, uid: 0, gid: 0, size: 0 }));
      }
      const size = "bytes" in member ? member.bytes.length : member.size;
      await write(encodeTarHeader({ path: member.name, type: "file", mode: 0o644, uid: 0, gid: 0, size }));
      if ("bytes" in member) {
        await write(member.bytes);
      } else {
        const blob = await Deno.open(member.path);
        const buf = new Uint8Array(1 << 20);
        let copied = 0;
        try {
          for (;;) {
            const n = await blob.read(buf);
            if (n === null) break;
            await write(buf.subarray(0, n));
            copied += n;
          }
        } finally {
          blob.close();
        }
        if (copied !== size) throw new AptOstreeError(`Blob ${member.name} changed size while archiving`);
      }
      await write(new Uint8Array(paddingFor(size)));
    }
    await write(END_OF_ARCHIVE);
    await file.sync();
  } finally {
    file.close();
  }
}
