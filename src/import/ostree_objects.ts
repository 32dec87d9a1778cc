/**
 * The read side of the ostree-native container format (see `bootc/layers.ts`):
 * the objects an image's ostree layers carry are written into a scratch
 * `bare-split-xattrs` repository, exactly as stored, and `ostree pull-local
 * --untrusted` then copies the commit into the real repository, computing
 * every object's checksum again. The branch ends up on the very commit that
 * was exported: same checksum, same detached signatures.
 *
 * Only entries under `sysroot/ostree/repo/objects/` are read; the hardlinks
 * and directories that make the image runnable are skipped.
 *
 * @module
 */

import { lchown } from "node:fs/promises";
import { join } from "node:path";
import { AptOstreeError } from "../errors.ts";
import { normalizeLayerPath } from "./apply_layer.ts";
import type { TarEntry, TarReader } from "../tar/reader.ts";
import { IMAGE_REPO_CONFIG, IMAGE_REPO_PATH } from "../bootc/layers.ts";
import { writeAll } from "../util/fs.ts";

/** Metadata objects are at most this big (ostree-ext's limit). */
export const MAX_METADATA_OBJECT = 10 << 20;

const OBJECTS_PREFIX = `${IMAGE_REPO_PATH}/objects/`;
const OBJECT_NAME =
  /^([0-9a-f]{2})\/([0-9a-f]{62})\.(commit|commitmeta|dirtree|dirmeta|file|file-xattrs|file-xattrs-link)$/;
const METADATA = new Set(["commit", "commitmeta", "dirtree", "dirmeta"]);

function damaged(where: string, path: string, why: string): AptOstreeError {
  return new AptOstreeError(`Invalid ostree object ${path} in ${where}: ${why}`, {
    solution: "The image is damaged or was not made by an ostree-native exporter; nothing was imported",
  });
}

/**
 * Writes the objects of an image's ostree layers into a scratch
 * `bare-split-xattrs` repository.
 *
 * @example
 * ```ts
 * import { ObjectImporter } from "./ostree_objects.ts";
 * import { TarReader } from "../tar/reader.ts";
 * const importer = await ObjectImporter.create("/tmp/scratch-repo", "0123…");
 * await importer.applyLayer(new TarReader((await Deno.open("layer.tar")).readable, "layer.tar"), "layer.tar", true);
 * ```
 */
export class ObjectImporter {
  /** Objects written. */
  objects = 0;
  /** Bytes of object content written. */
  bytes = 0;
  private sawCommit = false;

  private constructor(
    /** The scratch repository. */
    readonly path: string,
    /** The commit the image's labels name. */
    readonly commit: string,
  ) {}

  /** Creates the scratch repository at `path` (which must not exist). */
  static async create(path: string, commit: string): Promise<ObjectImporter> {
    await Deno.mkdir(path, { mode: 0o700 });
    for (const dir of ["objects", "refs/heads", "refs/remotes", "refs/mirrors", "tmp", "state", "extensions"]) {
      await Deno.mkdir(join(path, dir), { recursive: true, mode: 0o755 });
    }
    // All 256 fan-out directories up front: no mkdir per object.
    for (let i = 0; i < 256; i++) {
      await Deno.mkdir(join(path, "objects", i.toString(16).padStart(2, "0")), { mode: 0o755 });
    }
    await Deno.writeTextFile(join(path, "config"), IMAGE_REPO_CONFIG);
    return new ObjectImporter(path, commit);
  }

  /**
   * Writes the objects of one layer. In the commit layer (`first`), the
   * commit object must be the first object, and named by the label.
   */
  async applyLayer(reader: TarReader, where: string, first: boolean, signal?: AbortSignal): Promise<void> {
    let objectsSeen = 0;
    for (;;) {
      signal?.throwIfAborted();
      const entry = await reader.next();
      if (entry === undefined) break;
      const rel = normalizeLayerPath(entry.path, where);
      if (!rel.startsWith(OBJECTS_PREFIX)) continue;
      const name = rel.slice(OBJECTS_PREFIX.length);
      if (entry.type === "directory") {
        if (!/^[0-9a-f]{2}$/.test(name)) throw damaged(where, rel, "unexpected directory");
        continue;
      }
      const m = OBJECT_NAME.exec(name);
      if (!m) throw damaged(where, rel, "not an object name");
      const [, xx, rest, kind] = m;
      if (first && objectsSeen === 0 && (kind !== "commit" || xx + rest !== this.commit)) {
        throw damaged(where, rel, `the first object must be the commit ${this.commit} that the image's label names`);
      }
      if (kind === "commit" && xx + rest !== this.commit) throw damaged(where, rel, "a second commit");
      if (kind === "commit") this.sawCommit = true;
      objectsSeen++;
      await this.write(entry, reader, join(this.path, "objects", xx), `${rest}.${kind}`, kind, where, rel);
      this.objects++;
    }
    if (first && !this.sawCommit) {
      throw damaged(where, `${this.commit}.commit`, "the commit layer does not hold the commit object");
    }
  }

  private async write(
    entry: TarEntry,
    reader: TarReader,
    dir: string,
    file: string,
    kind: string,
    where: string,
    rel: string,
  ): Promise<void> {
    const full = join(dir, file);
    if (entry.type === "hardlink") {
      // Older exporters linked `.file-xattrs-link` to a shared `.file-xattrs`.
      if (kind !== "file-xattrs-link") throw damaged(where, rel, "a hardlink where an object belongs");
      const target = normalizeLayerPath(entry.linkTarget ?? "", where);
      const m = target.startsWith(OBJECTS_PREFIX) ? OBJECT_NAME.exec(target.slice(OBJECTS_PREFIX.length)) : null;
      if (!m || m[3] !== "file-xattrs") throw damaged(where, rel, `links to ${target}, not to a .file-xattrs object`);
      await Deno.link(join(this.path, "objects", m[1], `${m[2]}.file-xattrs`), full).catch((error) => {
        throw damaged(where, rel, `cannot link to ${target}: ${(error as Error).message}`);
      });
      return;
    }
    if (entry.type === "symlink") {
      if (kind !== "file") throw damaged(where, rel, "a symlink where a metadata object belongs");
      await Deno.symlink(entry.linkTarget ?? "", full).catch((error) => {
        throw damaged(where, rel, `appears twice or cannot be written (${(error as Error).message})`);
      });
      await lchown(full, entry.uid, entry.gid);
      return;
    }
    if (entry.type !== "file") throw damaged(where, rel, `unsupported entry type ${entry.type}`);
    if (METADATA.has(kind) && entry.size > MAX_METADATA_OBJECT) {
      throw damaged(where, rel, `${entry.size} bytes, more than a metadata object may have (10 MiB)`);
    }
    let out: Deno.FsFile;
    try {
      out = await Deno.open(full, { write: true, createNew: true, mode: 0o600 });
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) throw damaged(where, rel, "appears twice");
      throw error;
    }
    try {
      for await (const chunk of reader.body()) {
        await writeAll(out, chunk);
        this.bytes += chunk.length;
      }
    } finally {
      out.close();
    }
    if (kind === "file") {
      // bare-split-xattrs keeps mode and owner on the object itself (xattrs live beside it);
      // chown first, since it clears setuid and setgid.
      await Deno.chown(full, entry.uid, entry.gid);
      await Deno.chmod(full, entry.mode & 0o7777);
    } else {
      await Deno.chmod(full, 0o644);
    }
  }
}
