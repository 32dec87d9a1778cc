/**
 * Applies image layers, in order, to a directory tree (the import's temp
 * tree), as containerd and Docker do, but treating every layer as hostile:
 *
 * - paths are normalised; absolute paths and `..` are refused;
 * - nothing is ever written through a symlink: every parent of an entry
 *   must be a real directory in the tree (a path through a symlink is
 *   refused), and an entry replaces whatever was at its path;
 * - hardlinks must name an existing non-directory inside the tree;
 * - whiteouts (`.wh.NAME`) remove NAME from lower layers, opaque markers
 *   (`.wh..wh..opq`) hide a directory's lower contents; a whiteout that
 *   names `.`, `..` or anything outside its directory is refused;
 * - device nodes and FIFOs are skipped (OSTree commits cannot hold them)
 *   and reported;
 * - ownership, modes (setuid, setgid, sticky) and xattrs (binary values)
 *   are kept; directory modes are applied at the end, so that read-only
 *   directories can still be filled.
 *
 * Without root, files cannot be given away to other owners, nor `trusted.`
 * or `security.` xattrs set: such an entry stops the import with a message
 * saying so.
 *
 * @module
 */

import { lchownSync } from "node:fs";
import { join } from "node:path";
import { AptOstreeError } from "../errors.ts";
import type { Xattr } from "../ostree/tree.ts";
import { setXattr, XattrError } from "../util/xattr.ts";
import type { TarEntry, TarReader } from "../tar/reader.ts";

/** An entry that was not imported. */
export interface SkippedEntry {
  /** Path in the image. */
  path: string;
  /** Why: its type (`char`, `block`, `fifo`). */
  type: string;
}

interface DirMeta {
  mode: number;
  uid: number;
  gid: number;
  xattrs: Xattr[];
}

/** Counters of an import. */
export interface ApplyStats {
  /** Entries applied (whiteouts included). */
  entries: number;
  /** Bytes of file content written. */
  bytes: number;
}

/**
 * Normalises a path from a layer: strips `./` and trailing slashes;
 * refuses absolute paths, `..` components and NUL bytes. Returns `""` for
 * the root.
 *
 * @example
 * ```ts
 * import { normalizeLayerPath } from "./apply_layer.ts";
 * normalizeLayerPath("./usr/bin/", "layer"); // "usr/bin"
 * normalizeLayerPath("../etc/passwd", "layer"); // throws
 * ```
 */
export function normalizeLayerPath(raw: string, where: string): string {
  if (raw.includes("\0")) throw refused(where, raw, "the path holds a NUL byte");
  if (raw.startsWith("/")) throw refused(where, raw, "absolute path");
  const parts = raw.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw refused(where, raw, "the path leads outside the image with '..'");
  return parts.join("/");
}

function refused(where: string, path: string, why: string): AptOstreeError {
  return new AptOstreeError(`Refusing ${where}: entry '${path}': ${why}`, {
    solution: "The image is malformed or malicious; nothing was imported",
  });
}

function needsRoot(path: string, what: string): AptOstreeError {
  return new AptOstreeError(`Importing this image needs root: ${path} ${what}`, {
    solution:
      "Run the pull as root (sudo): only root can keep file ownership and security/trusted xattrs in the commit",
  });
}

const WHITEOUT_PREFIX = ".wh.";
const OPAQUE = ".wh..wh..opq";

function parentOf(rel: string): string {
  const slash = rel.lastIndexOf("/");
  return slash < 0 ? "" : rel.slice(0, slash);
}

function baseOf(rel: string): string {
  return rel.slice(rel.lastIndexOf("/") + 1);
}

function lstatOrUndefined(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** A tree that layers are applied to. */
export class ImportTree {
  /** Entries skipped (device nodes, FIFOs). */
  readonly skipped: SkippedEntry[] = [];
  /** Counters. */
  readonly stats: ApplyStats = { entries: 0, bytes: 0 };
  private readonly dirs = new Map<string, DirMeta>();
  /** Directories known to be real directories (not symlinks) in the tree. */
  private readonly knownDirs = new Set<string>([""]);
  /** Paths present in the layer being applied (for opaque directories). */
  private layerPaths = new Set<string>();
  private where = "";

  /**
   * @param root an empty directory that becomes the image's root
   * @param privileged whether ownership and all xattrs can be set (root)
   */
  constructor(readonly root: string, readonly privileged: boolean) {}

  /** Absolute path in the tree of a normalised relative path. */
  private full(rel: string): string {
    return rel === "" ? this.root : join(this.root, rel);
  }

  /**
   * Applies one layer from its tar stream. `name` identifies it in errors
   * (e.g. its digest).
   *
   * @example
   * ```ts
   * import { ImportTree } from "./apply_layer.ts";
   * import { TarReader } from "../tar/reader.ts";
   * const tree = new ImportTree(await Deno.makeTempDir(), Deno.uid() === 0);
   * await tree.applyLayer(new TarReader((await Deno.open("layer.tar")).readable, "layer.tar"), "layer.tar");
   * await tree.finish();
   * ```
   */
  async applyLayer(reader: TarReader, name: string, signal?: AbortSignal): Promise<void> {
    this.where = `layer ${name}`;
    this.layerPaths = new Set();
    for (;;) {
      signal?.throwIfAborted();
      const entry = await reader.next();
      if (entry === undefined) break;
      try {
        await this.apply(entry, reader);
      } catch (error) {
        if (error instanceof AptOstreeError) throw error;
        const message = error instanceof Error ? error.message : String(error);
        throw new AptOstreeError(`Cannot import ${entry.path} from ${this.where}: ${message}`, {
          solution: error instanceof Deno.errors.PermissionDenied
            ? "Run the pull as root (sudo)"
            : "Check the space and permissions of the repository's file system",
          cause: error,
        });
      }
      this.stats.entries++;
    }
  }

  private async apply(entry: TarEntry, reader: TarReader): Promise<void> {
    const rel = normalizeLayerPath(entry.path, this.where);
    const base = baseOf(rel);
    if (base.startsWith(WHITEOUT_PREFIX)) {
      this.whiteout(rel, base, entry);
      return;
    }
    if (rel === "") {
      if (entry.type !== "directory") throw refused(this.where, entry.path, "the root is not a directory");
      this.checkOwner(entry, "/");
      this.dirs.set("", { mode: entry.mode, uid: entry.uid, gid: entry.gid, xattrs: entry.xattrs });
      return;
    }
    this.ensureParents(rel, entry.path);
    this.layerPaths.add(rel);
    const full = this.full(rel);
    const existing = lstatOrUndefined(full);
    switch (entry.type) {
      case "directory": {
        this.checkOwner(entry, rel);
        if (!existing?.isDirectory) {
          if (existing) this.remove(rel);
          Deno.mkdirSync(full, { mode: 0o700 });
        }
        this.knownDirs.add(rel);
        this.dirs.set(rel, { mode: entry.mode, uid: entry.uid, gid: entry.gid, xattrs: entry.xattrs });
        return;
      }
      case "file": {
        this.checkOwner(entry, rel);
        if (existing) this.remove(rel);
        const file = Deno.openSync(full, { write: true, createNew: true, mode: 0o600 });
        try {
          for await (const chunk of reader.body()) {
            let offset = 0;
            while (offset < chunk.length) offset += file.writeSync(chunk.subarray(offset));
            this.stats.bytes += chunk.length;
          }
        } finally {
          file.close();
        }
        this.setMetadata(full, rel, entry, false);
        return;
      }
      case "symlink": {
        this.checkOwner(entry, rel);
        if (existing) this.remove(rel);
        // The target is only text: it is stored, never followed.
        Deno.symlinkSync(entry.linkTarget ?? "", full);
        this.setMetadata(full, rel, entry, true);
        return;
      }
      case "hardlink": {
        const target = normalizeLayerPath(entry.linkTarget ?? "", this.where);
        if (target === "" || target === rel) throw refused(this.where, entry.path, "hardlink to itself or the root");
        this.checkParents(target, entry.path);
        const targetFull = this.full(target);
        const info = lstatOrUndefined(targetFull);
        if (!info) {
          throw refused(this.where, entry.path, `hardlink to '${entry.linkTarget}', which is not in the image`);
        }
        if (info.isDirectory) throw refused(this.where, entry.path, "hardlink to a directory");
        if (existing) {
          if (existing.ino === info.ino && existing.dev === info.dev) return;
          this.remove(rel);
        }
        Deno.linkSync(targetFull, full);
        return;
      }
      default: {
        // Device nodes and FIFOs: OSTree cannot store them (systemd and the kernel make /dev).
        if (existing) this.remove(rel);
        this.skipped.push({ path: rel, type: entry.type });
        return;
      }
    }
  }

  private whiteout(rel: string, base: string, entry: TarEntry): void {
    const dir = parentOf(rel);
    if (base === OPAQUE) {
      if (!this.checkParents(dir, entry.path, true)) return;
      const info = lstatOrUndefined(this.full(dir));
      if (!info?.isDirectory) return;
      this.layerPaths.add(dir);
      this.removeLowerChildren(dir);
      return;
    }
    if (base.startsWith(WHITEOUT_PREFIX + WHITEOUT_PREFIX)) return; // aufs metadata (.wh..wh.plnk, …)
    const name = base.slice(WHITEOUT_PREFIX.length);
    if (name === "" || name === "." || name === "..") {
      throw refused(this.where, entry.path, "whiteout that reaches outside its directory");
    }
    if (!this.checkParents(dir, entry.path, true)) return;
    const target = dir === "" ? name : `${dir}/${name}`;
    if (lstatOrUndefined(this.full(target))) this.remove(target);
  }

  /** Removes the children of `dir` that this layer did not put there (recursively). */
  private removeLowerChildren(dir: string): void {
    for (const child of Deno.readDirSync(this.full(dir))) {
      const rel = dir === "" ? child.name : `${dir}/${child.name}`;
      if (!this.layerPaths.has(rel)) this.remove(rel);
      else if (child.isDirectory && !child.isSymlink) this.removeLowerChildren(rel);
    }
  }

  /** Removes a path (a directory with its contents; a symlink itself). */
  private remove(rel: string): void {
    const wasDirectory = this.knownDirs.has(rel) || this.dirs.has(rel) ||
      lstatOrUndefined(this.full(rel))?.isDirectory === true;
    Deno.removeSync(this.full(rel), { recursive: true });
    // Only a directory has descendants to forget: replacing a plain file
    // must not cost a scan of every directory (quadratic on big layers).
    if (!wasDirectory) return;
    for (const known of [...this.knownDirs]) {
      if (known === rel || known.startsWith(rel + "/")) this.knownDirs.delete(known);
    }
    for (const path of [...this.dirs.keys()]) {
      if (path === rel || path.startsWith(rel + "/")) this.dirs.delete(path);
    }
  }

  /**
   * Checks that every parent of `rel` is a real directory; creates missing
   * ones (mode 0755, root-owned, as Docker does) and marks them present in
   * this layer.
   */
  private ensureParents(rel: string, raw: string): void {
    const parts = rel.split("/");
    let path = "";
    for (let i = 0; i < parts.length - 1; i++) {
      path = path === "" ? parts[i] : `${path}/${parts[i]}`;
      this.layerPaths.add(path);
      if (this.knownDirs.has(path)) continue;
      const info = lstatOrUndefined(this.full(path));
      if (!info) {
        Deno.mkdirSync(this.full(path), { mode: 0o700 });
        if (!this.dirs.has(path)) this.dirs.set(path, { mode: 0o755, uid: 0, gid: 0, xattrs: [] });
      } else if (info.isSymlink) {
        throw refused(this.where, raw, `its parent '${path}' is a symlink (writing through it is not allowed)`);
      } else if (!info.isDirectory) {
        throw refused(this.where, raw, `its parent '${path}' is not a directory`);
      }
      this.knownDirs.add(path);
    }
  }

  /**
   * Checks (without creating anything) that the parents of `rel` are real
   * directories, and `rel` itself too when `includeSelf`. Returns false when
   * one is missing.
   */
  private checkParents(rel: string, raw: string, includeSelf = false): boolean {
    if (rel === "") return true;
    const parts = rel.split("/");
    let path = "";
    const count = includeSelf ? parts.length : parts.length - 1;
    for (let i = 0; i < count; i++) {
      path = path === "" ? parts[i] : `${path}/${parts[i]}`;
      if (this.knownDirs.has(path)) continue;
      const info = lstatOrUndefined(this.full(path));
      if (!info) return false;
      if (info.isSymlink) throw refused(this.where, raw, `'${path}' is a symlink (following it is not allowed)`);
      if (!info.isDirectory) return false;
      this.knownDirs.add(path);
    }
    return true;
  }

  private checkOwner(entry: TarEntry, rel: string): void {
    if (this.privileged) return;
    if (entry.uid !== 0 || entry.gid !== 0) {
      throw needsRoot(rel, `is owned by ${entry.uid}:${entry.gid}, which only root can keep`);
    }
    const privileged = entry.xattrs.find((x) => !x.name.startsWith("user."));
    if (privileged) throw needsRoot(rel, `has the extended attribute ${privileged.name}, which only root can set`);
  }

  private setMetadata(full: string, rel: string, entry: TarEntry, symlink: boolean): void {
    if (this.privileged) lchownSync(full, entry.uid, entry.gid);
    // chmod after chown: chown clears setuid and setgid.
    if (!symlink) Deno.chmodSync(full, entry.mode);
    this.setXattrs(full, rel, entry.xattrs);
  }

  private setXattrs(full: string, rel: string, xattrs: Xattr[]): void {
    for (const xattr of xattrs) {
      try {
        setXattr(full, xattr.name, xattr.value);
      } catch (error) {
        if (error instanceof XattrError) {
          throw new AptOstreeError(`Cannot keep the extended attribute ${xattr.name} of ${rel}: ${error.message}`, {
            solution: this.privileged
              ? "The file system of the repository must support extended attributes (ext4, xfs, btrfs, tmpfs)"
              : "Run the pull as root (sudo)",
          });
        }
        throw error;
      }
    }
  }

  /** Applies the directory metadata collected on the way (deepest first). */
  finish(): void {
    if (!this.dirs.has("")) this.dirs.set("", { mode: 0o755, uid: 0, gid: 0, xattrs: [] });
    const depth = (rel: string) => rel === "" ? 0 : rel.split("/").length;
    const paths = [...this.dirs.keys()].sort((a, b) => depth(b) - depth(a));
    for (const rel of paths) {
      const meta = this.dirs.get(rel)!;
      const full = this.full(rel);
      const info = lstatOrUndefined(full);
      if (!info?.isDirectory) continue;
      if (this.privileged) lchownSync(full, meta.uid, meta.gid);
      this.setXattrs(full, rel === "" ? "/" : rel, meta.xattrs);
      Deno.chmodSync(full, meta.mode);
    }
  }
}
