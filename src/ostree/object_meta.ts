/**
 * A content object's metadata (kind, mode, owner, size, symlink target,
 * xattrs) as each repository mode stores it, one object at a time or a
 * batch at a time on another thread ({@linkcode readObjectMetas}).
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { AptOstreeError } from "../errors.ts";
import { openReader } from "../util/libc.ts";
import type { Xattr } from "../util/xattr.ts";
import { GVariantError } from "./gvariant.ts";
import { archiveHeaderLength, parseArchiveFileHeader, parseDirMeta } from "./objects.ts";
import { ObjectStatter } from "./object_stat.ts";
import type { RepoMode } from "./repo.ts";

/**
 * The error for a path that is not UTF-8.
 *
 * @example
 * ```ts
 * import { invalidName } from "./object_meta.ts";
 * invalidName("/etc/\ufffd").message; // "File name is not valid UTF-8: /etc/\ufffd"
 * ```
 */
export function invalidName(path: string): AptOstreeError {
  return new AptOstreeError(`File name is not valid UTF-8: ${path}`, {
    solution: "Rename the file in the source tree: OCI layers and bootc need UTF-8 paths",
  });
}

function unsupportedType(path: string, type: string): AptOstreeError {
  const names: Record<string, string> = { c: "character device", b: "block device", p: "FIFO", s: "socket" };
  return new AptOstreeError(`Cannot put ${path} into a layer: unsupported file type (${names[type] ?? type})`, {
    solution: "OSTree commits hold regular files, directories and symlinks only; remove that entry from the tree",
  });
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

/** What a content object records, whatever the repository mode. */
export interface FileMeta {
  /** File or symlink. */
  kind: "file" | "symlink";
  /** `st_mode` (type and permission bits). */
  mode: number;
  /** Owner. */
  uid: number;
  /** Group. */
  gid: number;
  /** Content size (files). */
  size: number;
  /** Symlink target. */
  target?: string;
  /** Extended attributes, sorted by name where the mode stores them unsorted. */
  xattrs: Xattr[];
}

function kindOf(mode: number, path: string): "file" | "symlink" {
  const type = mode & S_IFMT;
  if (type === S_IFREG) return "file";
  if (type === S_IFLNK) return "symlink";
  const names: Record<number, string> = { 0o020000: "c", 0o060000: "b", 0o010000: "p", 0o140000: "s" };
  throw unsupportedType("/" + path, names[type] ?? `mode ${mode.toString(8)}`);
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** A bare-user symlink object's content: the target (ostree writes it with a trailing NUL). */
function readTarget(content: Uint8Array, path: string): string {
  const end = content.indexOf(0);
  const bytes = end >= 0 ? content.subarray(0, end) : content;
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw invalidName(`${"/" + path} -> ${new TextDecoder().decode(bytes)}`);
  }
}

/**
 * Reads a content object's metadata the way the repository's mode stores
 * it (`path`: the tree path it is read for, named in errors).
 *
 * @example
 * ```ts
 * import { fileMetaReader } from "./object_meta.ts";
 * import { ObjectStatter } from "./object_stat.ts";
 * const objects = new ObjectStatter("repo/objects");
 * const read = fileMetaReader("repo/objects", "bare-user", objects);
 * read("<64 hex digits>", "usr/bin/env").mode;
 * objects.close();
 * ```
 */
export function fileMetaReader(
  objectsDir: string,
  mode: RepoMode,
  objects: ObjectStatter,
): (checksum: string, path: string) => FileMeta {
  const rel = (checksum: string) => `${checksum.slice(0, 2)}/${checksum.slice(2)}.file`;
  const objectPath = (checksum: string) => `${objectsDir}/${rel(checksum)}${mode === "archive" ? "z" : ""}`;
  switch (mode) {
    case "archive": {
      // Headers are decoded into fresh values, so one buffer serves every object.
      const buffer = new Uint8Array(4096);
      return (checksum, path) => {
        const file = openReader(objectPath(checksum));
        try {
          let head = buffer;
          let got = file.read(head);
          const need = 8 + archiveHeaderLength(head.subarray(0, got));
          if (need > got) {
            head = new Uint8Array(need);
            head.set(buffer.subarray(0, got));
            while (got < need) {
              const n = file.read(head.subarray(got, need));
              if (n === 0) break;
              got += n;
            }
          }
          const header = parseArchiveFileHeader(head.subarray(0, got));
          const kind = kindOf(header.mode, path);
          return {
            kind,
            mode: header.mode,
            uid: header.uid,
            gid: header.gid,
            size: kind === "file" ? header.size : 0,
            target: kind === "symlink" ? header.target : undefined,
            xattrs: header.xattrs,
          };
        } finally {
          file.close();
        }
      };
    }
    case "bare-user":
      return (checksum, path) => {
        const file = rel(checksum);
        const info = objects.stat(file);
        if ((info.mode & S_IFMT) !== S_IFREG) throw new GVariantError("a bare-user object is not a regular file");
        const raw = objects.xattr(file, "user.ostreemeta");
        if (!raw) throw new GVariantError("it has no user.ostreemeta xattr");
        const meta = parseDirMeta(raw);
        const kind = kindOf(meta.mode, path);
        // As libostree does: older versions wrote these unsorted.
        meta.xattrs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        return {
          kind,
          mode: meta.mode,
          uid: meta.uid,
          gid: meta.gid,
          size: kind === "file" ? info.size : 0,
          target: kind === "symlink" ? readTarget(readFileSync(objectPath(checksum)), path) : undefined,
          xattrs: meta.xattrs,
        };
      };
    case "bare":
    case "bare-user-only":
      return (checksum, path) => {
        const file = rel(checksum);
        const info = objects.stat(file);
        const kind = kindOf(info.mode, path);
        const owned = mode === "bare";
        return {
          kind,
          mode: info.mode,
          uid: owned ? info.uid : 0,
          gid: owned ? info.gid : 0,
          size: kind === "file" ? info.size : 0,
          target: kind === "symlink" ? Deno.readLinkSync(objectPath(checksum)) : undefined,
          xattrs: owned ? objects.xattrs(file) : [],
        };
      };
    case "bare-split-xattrs": {
      const repo = objectsDir.replace(/\/objects$/, "");
      throw new AptOstreeError(`Cannot read ${repo}: repositories in bare-split-xattrs mode are not supported`, {
        solution:
          `Copy the commit into a bare or archive repository (ostree init --mode=bare --repo=NEW && ostree pull-local --repo=NEW ${repo} REF) and build from that one`,
      });
    }
  }
}

/** The metadata of a batch of objects, in columns (what a worker hands back). */
export interface ObjectMetas {
  /** `st_mode` of each object. */
  modes: Uint32Array;
  /** Owners. */
  uids: Uint32Array;
  /** Groups. */
  gids: Uint32Array;
  /** Content sizes. */
  sizes: Float64Array;
  /** 1 where the object could not be read (the caller reads it again and reports why). */
  failed: Uint8Array;
  /** Symlink targets, by index in the batch. */
  targets: [number, string][];
  /** Non-empty xattr lists, by index in the batch. */
  xattrs: [number, Xattr[]][];
}

/**
 * Reads the metadata of a batch of content objects, for a worker thread
 * (see `DeflatePool.call`): the calling thread decodes the commit's
 * dirtrees while a worker makes these system calls.
 *
 * @example
 * ```ts
 * import { readObjectMetas } from "./object_meta.ts";
 * const metas = readObjectMetas("repo/objects", "bare", ["<64 hex digits>"]);
 * metas.failed[0]; // 1: no such object
 * ```
 */
export function readObjectMetas(objectsDir: string, mode: RepoMode, checksums: string[]): ObjectMetas {
  const n = checksums.length;
  const out: ObjectMetas = {
    modes: new Uint32Array(n),
    uids: new Uint32Array(n),
    gids: new Uint32Array(n),
    sizes: new Float64Array(n),
    failed: new Uint8Array(n),
    targets: [],
    xattrs: [],
  };
  const objects = new ObjectStatter(objectsDir);
  try {
    const read = fileMetaReader(objectsDir, mode, objects);
    for (let i = 0; i < n; i++) {
      try {
        const meta = read(checksums[i], "");
        out.modes[i] = meta.mode;
        out.uids[i] = meta.uid;
        out.gids[i] = meta.gid;
        out.sizes[i] = meta.size;
        if (meta.target !== undefined) out.targets.push([i, meta.target]);
        if (meta.xattrs.length > 0) out.xattrs.push([i, meta.xattrs]);
      } catch {
        out.failed[i] = 1;
      }
    }
  } finally {
    objects.close();
  }
  return out;
}
