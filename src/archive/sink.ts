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

import { join, resolve } from "node:path";
import { AptOstreeError, UsageError } from "../errors.ts";
import type { BuiltImage, ImageTarget } from "../image_target.ts";
import { DirBlobStore } from "../layout/blob_store.ts";
import { emptyIndex, OCI_LAYOUT_FILE_CONTENT, swapIntoPlace, tagInIndex } from "../layout/oci_layout.ts";
import { jsonBytes } from "../oci/image_config.ts";
import type { DockerArchiveManifestEntry } from "../oci/types.ts";
import { encodeTarHeader, END_OF_ARCHIVE, paddingFor } from "../tar/tar_header.ts";
import { digestHex } from "../digest/digest.ts";
import { assertReplaceable, type ReplaceGuardOptions } from "../util/replace_guard.ts";
import { fsError, removeQuietly, siblingTempPath, statOrUndefined, writeAll } from "../util/fs.ts";

/** Archive flavours. */
export type ArchiveFormat = "docker" | "oci-archive";

/** Options for {@linkcode ArchiveTarget.open}. */
export interface OpenArchiveOptions {
  /** Replace a directory at the output path (only what {@linkcode assertReplaceable} allows). */
  force?: boolean;
  /** Paths that replacing must never remove, nor anything above them (the OSTree repository). */
  protect?: ReplaceGuardOptions["protect"];
}

/** A file to put into the archive: bytes in memory or a file on disk. */
type ArchiveMember = { name: string; bytes: Uint8Array } | { name: string; path: string; size: number };

/**
 * Writes one image as a docker-archive or oci-archive tar file.
 *
 * @example
 * ```ts
 * import { ArchiveTarget } from "./sink.ts";
 * const target = await ArchiveTarget.open("my-image.tar", "docker");
 * // stream blobs into target.blobs, then:
 * // await target.commit({ ref, manifest, descriptor });
 * ```
 */
export class ArchiveTarget implements ImageTarget {
  private constructor(
    readonly location: string,
    readonly format: ArchiveFormat,
    private readonly staging: string,
    private readonly replace: boolean,
    readonly blobs: DirBlobStore,
  ) {}

  /**
   * Prepares to write an archive at `path`. An existing regular file is
   * replaced on commit (as `docker save -o` does); anything else that
   * exists is refused unless `force`.
   */
  static async open(path: string, format: ArchiveFormat, options: OpenArchiveOptions = {}): Promise<ArchiveTarget> {
    const location = resolve(path);
    const info = await statOrUndefined(location);
    if (info && !info.isFile && !options.force) {
      throw new UsageError(`Output path exists and is not a file: ${location}`, {
        solution: "Choose another --output, or pass --force to replace it",
      });
    }
    await assertReplaceable(location, { protect: options.protect });
    const staging = siblingTempPath(location);
    try {
      await Deno.mkdir(staging, { mode: 0o700 });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new UsageError(`Output directory does not exist: ${resolve(location, "..")}`, {
          solution: "Create it first or choose another --output",
        });
      }
      throw fsError("create the output", location, error);
    }
    return new ArchiveTarget(
      location,
      format,
      staging,
      info !== undefined,
      new DirBlobStore(join(staging, "layout"), join(staging, "tmp")),
    );
  }

  async commit(image: BuiltImage): Promise<void> {
    const { manifest, descriptor, ref } = image;
    const blobDigests = [descriptor.digest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)];
    const members: ArchiveMember[] = [];
    for (const digest of [...new Set(blobDigests)].sort()) {
      const path = this.blobs.blobPath(digest);
      const info = await Deno.stat(path);
      members.push({ name: `blobs/sha256/${digestHex(digest)}`, path, size: info.size });
    }
    members.push({ name: "index.json", bytes: jsonBytes(tagInIndex(emptyIndex(), descriptor, ref)) });
    if (this.format === "docker") {
      const entry: DockerArchiveManifestEntry = {
        Config: `blobs/sha256/${digestHex(manifest.config.digest)}`,
        RepoTags: ref.tag !== undefined ? [`${ref.familiarName.replace(/@.*$/, "")}`] : [],
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
      throw fsError("write", this.location, error);
    }
    await swapIntoPlace(tarPath, this.location, this.replace);
    await removeQuietly(this.staging);
  }

  async abort(): Promise<void> {
    await removeQuietly(this.staging);
  }
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
