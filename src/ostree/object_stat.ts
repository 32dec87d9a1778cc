/**
 * Loose objects' metadata through libc (`util/libc.ts`): `statx` and the
 * xattr calls, for trees of 100,000 files. Under the CLI's permission
 * flags a `Deno.lstatSync` costs ~2.5 µs (a `Deno.FileInfo` to build);
 * `statx` relative to an open `objects/` directory costs about two thirds
 * of that, and one `llistxattr` into a reused buffer answers "no xattrs" in
 * one call. Needs `--allow-ffi`; without it (or without `statx` in libc)
 * the same answers come from `Deno.lstatSync` and `util/xattr.ts`.
 *
 * @module
 */

import { getXattr, listXattrs } from "../util/xattr.ts";
import { ENODATA, errnoError, lastErrno, libc as lib } from "../util/libc.ts";
import type { Xattr } from "./tree.ts";

/** What the tree reader needs of an object's `stat`. */
export interface ObjectStat {
  /** `st_mode` (type and permission bits). */
  mode: number;
  /** Owner. */
  uid: number;
  /** Group. */
  gid: number;
  /** Size in bytes. */
  size: number;
}

const AT_SYMLINK_NOFOLLOW = 0x100;
const STATX_BASIC_STATS = 0x7ff;
const O_RDONLY_DIRECTORY_CLOEXEC = 0o200000 | 0o2000000;
const encoder = new TextEncoder();

/**
 * Metadata calls on the loose objects of one repository.
 *
 * @example
 * ```ts
 * import { ObjectStatter } from "./object_stat.ts";
 * const objects = new ObjectStatter("/srv/repo/objects");
 * const stat = objects.stat("ab/cdef….file");
 * const xattrs = objects.xattrs("ab/cdef….file");
 * objects.close();
 * ```
 */
export class ObjectStatter {
  private readonly lib = lib();
  private readonly dirFd: number;
  private readonly relPath = new Uint8Array(256);
  private readonly absPath: Uint8Array;
  private readonly absPrefix: number;
  private readonly statBuffer = new Uint8Array(256);
  private readonly statView = new DataView(this.statBuffer.buffer);
  private readonly listBuffer = new Uint8Array(1024);
  private readonly valueBuffer = new Uint8Array(1024);
  private readonly names = new Map<string, Uint8Array<ArrayBuffer>>();

  constructor(readonly objectsDir: string) {
    const prefix = encoder.encode(objectsDir + "/");
    this.absPath = new Uint8Array(prefix.length + 256);
    this.absPath.set(prefix);
    this.absPrefix = prefix.length;
    this.dirFd = this.lib ? this.lib.symbols.open(encoder.encode(objectsDir + "\0"), O_RDONLY_DIRECTORY_CLOEXEC) : -1;
  }

  /** Releases the directory descriptor. */
  close(): void {
    if (this.lib && this.dirFd >= 0) this.lib.symbols.close(this.dirFd);
  }

  private errno(): number {
    return lastErrno(this.lib!);
  }

  private fail(what: string, rel: string): never {
    const errno = this.errno();
    throw errnoError(errno, `${what} ${this.objectsDir}/${rel}: errno ${errno}`);
  }

  private setRel(rel: string): Uint8Array<ArrayBuffer> {
    const { written } = encoder.encodeInto(rel, this.relPath);
    this.relPath[written] = 0;
    return this.relPath;
  }

  private setAbs(rel: string): Uint8Array<ArrayBuffer> {
    const { written } = encoder.encodeInto(rel, this.absPath.subarray(this.absPrefix));
    this.absPath[this.absPrefix + written] = 0;
    return this.absPath as Uint8Array<ArrayBuffer>;
  }

  /** `lstat` of an object, by its path relative to `objects/`. */
  stat(rel: string): ObjectStat {
    if (!this.lib || this.dirFd < 0) {
      const info = Deno.lstatSync(`${this.objectsDir}/${rel}`);
      return { mode: info.mode ?? 0, uid: info.uid ?? 0, gid: info.gid ?? 0, size: info.size };
    }
    const rc = this.lib.symbols.statx(
      this.dirFd,
      this.setRel(rel),
      AT_SYMLINK_NOFOLLOW,
      STATX_BASIC_STATS,
      this.statBuffer,
    );
    if (rc !== 0) this.fail("cannot stat", rel);
    const v = this.statView;
    // struct statx: stx_uid at 20, stx_gid at 24, stx_mode (u16) at 28, stx_size (u64) at 40.
    return {
      mode: v.getUint16(28, true),
      uid: v.getUint32(20, true),
      gid: v.getUint32(24, true),
      size: v.getUint32(40, true) + v.getUint32(44, true) * 0x100000000,
    };
  }

  /** Every xattr of an object (symlinks not followed), in the order the file system lists them. */
  xattrs(rel: string): Xattr[] {
    if (!this.lib) return listXattrs(`${this.objectsDir}/${rel}`);
    const n = Number(this.lib.symbols.llistxattr(this.setAbs(rel), this.listBuffer, BigInt(this.listBuffer.length)));
    if (n === 0) return [];
    // Some xattrs (or more than the buffer holds): the general reader.
    return listXattrs(`${this.objectsDir}/${rel}`);
  }

  /** One xattr of an object, or undefined when it has none of that name. */
  xattr(rel: string, name: string): Uint8Array | undefined {
    if (!this.lib) return getXattr(`${this.objectsDir}/${rel}`, name);
    let cName = this.names.get(name);
    if (!cName) {
      cName = encoder.encode(name + "\0");
      this.names.set(name, cName);
    }
    const n = Number(
      this.lib.symbols.lgetxattr(this.setAbs(rel), cName, this.valueBuffer, BigInt(this.valueBuffer.length)),
    );
    if (n >= 0) return this.valueBuffer.slice(0, n);
    if (this.errno() === ENODATA) return undefined;
    // Too big for the buffer, or an error to report: the general reader.
    return getXattr(`${this.objectsDir}/${rel}`, name);
  }
}
